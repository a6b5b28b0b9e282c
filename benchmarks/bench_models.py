"""Model benchmarks on the bundled MiniLM backbone (CPU).

Measures: inference documents/second for the classifier and the extractor (batched, dynamic
padding) on synthetic single-page documents of ~200 words; peak RSS of a fresh process that
loads both models from the MLflow registry and serves a batch; training seconds per 1,000
documents with LoRA versus full fine-tuning (a few optimizer steps are timed and the median
step time is extrapolated - not a full epoch); the size of a registered version.

    python benchmarks/bench_models.py [--quick]

Prints a table and writes benchmarks/results/bench_models.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from selfimprove_assets.lib.models.artifacts import ModelBundle, ModelSpec
from selfimprove_assets.lib.models.backbone import configure_runtime
from selfimprove_assets.lib.models.predictor import ModelPredictor
from selfimprove_assets.lib.models.registry import ModelRegistry, load_predictor
from selfimprove_assets.lib.models.training import TrainConfig, train
from selfimprove_assets.lib.settings import load_settings
from selfimprove_assets.lib.types import PageWords, TrainingExample, Word

RESULTS = Path(__file__).resolve().parent / "results" / "bench_models.json"
VOCAB = (
    "invoice receipt statement patient total amount due date service provider account number "
    "balance paid insurance claim member policy address street city payment charges tax "
    "description quantity unit price subtotal discount reference visit clinic hospital"
).split()
TYPES = ["invoice", "receipt", "medical"]
ENTITY_LABELS = ["O", "B-total", "I-total", "B-date", "I-date", "B-name", "I-name"]


def synthetic_page(
    rng: random.Random, n_words: int = 200
) -> tuple[list[str], list[tuple[int, int, int, int]]]:
    words, boxes = [], []
    x, y = 40, 40
    for _ in range(n_words):
        word = (
            rng.choice(VOCAB)
            if rng.random() < 0.8
            else f"{rng.randint(1, 9999)}.{rng.randint(0, 99):02d}"
        )
        width = 12 * len(word)
        if x + width > 960:
            x, y = 40, y + 22
        words.append(word)
        boxes.append((x, y, x + width, y + 16))
        x += width + 10
    return words, boxes


def synthetic_examples(n: int, seed: int = 0) -> list[TrainingExample]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words, boxes = synthetic_page(rng)
        tags = ["O"] * len(words)
        for j in range(0, len(words) - 2, 37):
            tags[j] = rng.choice(["B-total", "B-date", "B-name"])
        out.append(TrainingExample(f"d{i}", TYPES[i % 3], words, boxes, [0] * len(words), tags))
    return out


def as_page_words(example: TrainingExample) -> PageWords:
    return PageWords([Word(w, b, 0) for w, b in zip(example.words, example.boxes, strict=True)], 1)


def bundle(model_type: str, labels: list[str], backbone: str) -> ModelBundle:
    return ModelBundle.from_backbone(
        ModelSpec(model_type=model_type, labels=labels, backbone=backbone)
    )


def inference(backbone: str, n_docs: int) -> dict[str, Any]:
    docs = [as_page_words(e) for e in synthetic_examples(n_docs, seed=1)]
    out: dict[str, Any] = {"documents": n_docs, "words_per_page": 200}
    for model_type, labels in (("classifier", TYPES), ("extractor", ENTITY_LABELS)):
        b = bundle(model_type, labels, backbone)
        b.merge_for_inference()
        predictor = ModelPredictor(b, batch_size=16)
        run = predictor.classify if model_type == "classifier" else predictor.extract
        run(docs[:2])  # warm-up
        started = time.perf_counter()
        run(docs)
        seconds = time.perf_counter() - started
        out[f"{model_type}_docs_per_s"] = round(n_docs / seconds, 2)
    return out


def training_speed(backbone: str, steps: int) -> dict[str, Any]:
    out: dict[str, Any] = {"steps_timed": steps, "batch_size": 8, "extrapolated": True}
    examples = synthetic_examples(8 * (steps + 1), seed=2)
    for mode, full in (("lora", False), ("full", True)):
        stamps: list[float] = []
        config = TrainConfig(
            epochs=1, batch_size=8, max_steps=steps + 1, log_every=1, val_fraction=0.0,
            full_finetune=full, progress=False,
        )  # fmt: skip
        train(
            "extractor", examples, validation=[], backbone=backbone, config=config,
            on_metrics=lambda _s, _m, acc=stamps: acc.append(time.perf_counter()),
        )  # fmt: skip
        step_times = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
        per_step = statistics.median(step_times)
        out[f"{mode}_s_per_step"] = round(per_step, 3)
        out[f"{mode}_s_per_1000_docs"] = round(per_step / 8 * 1000, 1)
    return out


def registered_size(backbone: str, root: Path) -> dict[str, Any]:
    registry = ModelRegistry(
        f"sqlite:///{root / 'mlflow.db'}", artifact_root=str(root / "artifacts")
    )
    run_id = registry.start_run("classifier")
    registry.register_bundle(run_id, bundle("classifier", TYPES, backbone))
    registry.end_run(run_id)
    run_id = registry.start_run("extractor")
    version = registry.register_bundle(run_id, bundle("extractor", ENTITY_LABELS, backbone))
    registry.end_run(run_id)
    backbone_bytes = sum(p.stat().st_size for p in Path(backbone).rglob("*") if p.is_file())
    return {
        "tracking_uri": registry.tracking_uri,
        "extractor_version_mb": round(version.artifact_bytes / 1e6, 2),
        "backbone_mb": round(backbone_bytes / 1e6, 1),
    }


def serve_child(tracking_uri: str) -> None:
    """Run in a fresh process: load both models from the registry, serve one batch, report RSS."""
    configure_runtime()
    started = time.perf_counter()
    classifier = load_predictor("models:/doc-classifier/1", tracking_uri)
    extractor = load_predictor("models:/entity-extractor/1", tracking_uri)
    load_s = time.perf_counter() - started
    docs = [as_page_words(e) for e in synthetic_examples(16, seed=3)]
    classifier.classify(docs)
    extractor.extract(docs)
    # VmHWM, not ru_maxrss: getrusage keeps the parent's peak across fork+exec.
    status = Path("/proc/self/status").read_text(encoding="utf-8").splitlines()
    hwm_kb = next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), 0)
    peak_mb = hwm_kb / 1024 or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_rss_mb": round(peak_mb, 1), "load_both_s": round(load_s, 2)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer documents and steps")
    parser.add_argument("--serve-child", metavar="TRACKING_URI")
    args = parser.parse_args()
    if args.serve_child:
        serve_child(args.serve_child)
        return
    configure_runtime()
    backbone = load_settings().backbone
    results: dict[str, Any] = {
        "backbone": backbone,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, CPU",
        "quick": args.quick,
    }
    results["inference"] = inference(backbone, 16 if args.quick else 64)
    results["training"] = training_speed(backbone, 2 if args.quick else 5)
    with tempfile.TemporaryDirectory() as tmp:
        results["artifact"] = registered_size(backbone, Path(tmp))
        child = subprocess.run(
            [sys.executable, __file__, "--serve-child", results["artifact"]["tracking_uri"]],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        results["serving"] = json.loads(child.stdout.strip().splitlines()[-1])
        results["artifact"].pop("tracking_uri")
    rows = [
        ("classifier inference (docs/s, 200 words)", results["inference"]["classifier_docs_per_s"]),
        ("extractor inference (docs/s, 200 words)", results["inference"]["extractor_docs_per_s"]),
        (
            "LoRA training (s / 1,000 docs, extrapolated)",
            results["training"]["lora_s_per_1000_docs"],
        ),
        (
            "full fine-tune (s / 1,000 docs, extrapolated)",
            results["training"]["full_s_per_1000_docs"],
        ),
        ("registered extractor version (MB)", results["artifact"]["extractor_version_mb"]),
        ("backbone on disk (MB, not copied)", results["artifact"]["backbone_mb"]),
        ("peak RSS serving both models (MB)", results["serving"]["peak_rss_mb"]),
        ("load both models from registry (s)", results["serving"]["load_both_s"]),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}}  value")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
