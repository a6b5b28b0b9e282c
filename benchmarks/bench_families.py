"""What each model family costs at base size, with random weights (``bench_models --families``).

For every family a base-size checkpoint (768 wide, 12 layers) is written from its config with
random weights, and an extractor V1 on it is timed: training seconds per 1,000 documents with
LoRA (a few optimizer steps, median step time extrapolated - not a full epoch) and inference
documents/second through the predictor's defaults (int8 where the family's int8 agrees with
float32, on the CPU; bf16 autocast on a GPU). Random weights cost what trained ones cost; the
accuracy of a family needs its real checkpoint. ``--tiny`` runs the tiny checkpoints instead
(a smoke run of this script, not figures).

    python benchmarks/bench_models.py --families [--quick] [--tiny]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from selfimprove_assets.lib.models.backbone import configure_runtime
from selfimprove_assets.lib.models.device import select_device
from selfimprove_assets.lib.models.inference import is_quantized
from selfimprove_assets.lib.models.predictor import ModelPredictor
from selfimprove_assets.lib.models.tiny import TINY_MODEL_TYPES, save_tiny_checkpoint
from selfimprove_assets.lib.models.training import TrainConfig, example_document, train
from selfimprove_assets_tests.lib.models.tiny_corpus import make_corpus, vocabulary

RESULTS = Path(__file__).parent / "results" / "bench_families.json"


def family_cost(backbone: str, steps: int, n_docs: int, batch: int = 8) -> dict[str, Any]:
    examples = make_corpus(n_per_type=max(batch * (steps + 1) // 3 + 1, 2), seed=2)
    stamps: list[float] = []
    config = TrainConfig(
        epochs=1, batch_size=batch, max_steps=steps + 1, log_every=1, val_fraction=0.0,
        progress=False,
    )  # fmt: skip
    result = train(
        "extractor", examples, validation=[], backbone=backbone, config=config,
        on_metrics=lambda _s, _m: stamps.append(time.perf_counter()),
    )  # fmt: skip
    per_step = statistics.median(b - a for a, b in zip(stamps, stamps[1:], strict=False))
    predictor = ModelPredictor(result.bundle)
    docs = [example_document(e) for e in make_corpus(n_per_type=n_docs // 3 + 1, seed=5)]
    predictor.extract(docs[:2])  # builds the inference copy
    started = time.perf_counter()
    predictor.extract(docs)
    elapsed = time.perf_counter() - started
    return {
        "family": result.bundle.spec.family,
        "train_s_per_1000_docs": round(per_step / batch * 1000, 1),
        "inference_docs_per_s": round(len(docs) / elapsed, 1),
        "int8": is_quantized(predictor.inference_model()),
    }


def run(quick: bool, tiny: bool) -> dict[str, Any]:
    configure_runtime()
    device = select_device(None)
    out: dict[str, Any] = {
        "size": "tiny" if tiny else "base (random weights)",
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "families": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for model_type in TINY_MODEL_TYPES:
            path = save_tiny_checkpoint(
                Path(tmp) / model_type, vocabulary(), model_type, base_size=not tiny
            )
            out["families"][model_type] = family_cost(
                str(path), 1 if quick else 3, 8 if quick else 32
            )
            print(model_type, out["families"][model_type], flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--families", action="store_true", help="(the flag bench_models takes)")
    parser.add_argument("--quick", action="store_true", help="fewer steps and documents")
    parser.add_argument("--tiny", action="store_true", help="tiny checkpoints: a smoke run")
    args = parser.parse_args(argv)
    run(args.quick, args.tiny)


if __name__ == "__main__":
    main()
