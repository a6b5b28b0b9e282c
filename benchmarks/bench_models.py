"""Model benchmarks on the bundled MiniLM backbone (CPU).

Measures: inference documents/second for the classifier, the extractor and both together (one
document through both models, what the API does per upload), batched with dynamic padding, on
synthetic single-page documents of ~200 words, with the predictor's default inference options
(LoRA merged, encoder int8, classifier on the first 128 tokens) and with the float32
whole-document reference, interleaved so both see the same machine load; the accuracy cost of
those options on a MiniLM classifier and extractor trained on the synthetic corpus (agreement
with the reference and the change in accuracy / entity F1 on held-out documents); peak RSS of
a fresh process that loads both models from the MLflow registry and serves a batch; training
seconds per 1,000 documents with LoRA versus full fine-tuning (a few optimizer steps are timed
and the median step time is extrapolated - not a full epoch); the size of a registered version.

    python benchmarks/bench_models.py [--quick] [--models DIR]

``--models DIR`` keeps the trained accuracy models in DIR (trained there on first use, loaded
afterwards). Prints a table and writes benchmarks/results/bench_models.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from selfimprove_assets.lib.documents.alignment import align_entities
from selfimprove_assets.lib.documents.corpus import to_training_example
from selfimprove_assets.lib.documents.synth import iter_documents
from selfimprove_assets.lib.metrics import classification_report, entity_report
from selfimprove_assets.lib.models.artifacts import SPEC_FILE, ModelBundle
from selfimprove_assets.lib.models.backbone import configure_runtime
from selfimprove_assets.lib.models.dataset import example_truth
from selfimprove_assets.lib.models.inference import InferenceOptions, is_quantized, token_budget
from selfimprove_assets.lib.models.predictor import DocumentPredictor, ModelPredictor
from selfimprove_assets.lib.models.registry import ModelRegistry, load_predictor
from selfimprove_assets.lib.models.training import (
    TrainConfig,
    build_bundle,
    example_document,
    train,
)
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
    """An untrained V1 as training builds it (the trainer's defaults: LoRA placement, frozen
    2-D embeddings), so its registered size is what a real version weighs."""
    return build_bundle(model_type, labels, TrainConfig(), backbone=backbone, parent=None)


def _seconds(run: Callable[[list[PageWords]], object], docs: list[PageWords]) -> float:
    started = time.perf_counter()
    run(docs)
    return time.perf_counter() - started


def inference(backbone: str, n_docs: int, reps: int) -> dict[str, Any]:
    """docs/s per model and for both together, default options vs the float32 reference.

    Each figure is the best of ``reps`` runs (the machine is shared; the best run is the one
    least disturbed), and the two configurations alternate run by run.
    """
    docs = [as_page_words(e) for e in synthetic_examples(n_docs, seed=1)]
    classifier = bundle("classifier", TYPES, backbone)
    extractor = bundle("extractor", ENTITY_LABELS, backbone)
    default = InferenceOptions.from_env()
    configs = {"default": default, "reference": InferenceOptions.reference()}
    models = {
        name: (
            ModelPredictor(classifier, options=options),
            ModelPredictor(extractor, options=options),
        )
        for name, options in configs.items()
    }
    served = models["default"][1]
    out: dict[str, Any] = {
        "documents": n_docs,
        "words_per_page": 200,
        "tokens_per_page": round(
            statistics.mean(len(w) for d in docs for w in extractor.featurizer.page_windows(d, 0))
        ),
        "best_of": reps,
        "options": {
            "precision": default.precision,
            "classifier_tokens": default.classifier_tokens,
            "batch_size": served.batch_size,
            "max_tokens_per_batch": served.max_tokens or token_budget(served.inference_model()),
        },
    }
    for c, e in models.values():
        DocumentPredictor(c, e).predict(docs[:2])  # warm-up
    seconds: dict[str, dict[str, list[float]]] = {name: {} for name in configs}
    for _ in range(reps):
        for name, (c, e) in models.items():
            both = DocumentPredictor(c, e)
            times = seconds[name]
            times.setdefault("classifier", []).append(_seconds(c.classify, docs))
            times.setdefault("extractor", []).append(_seconds(e.extract, docs))
            times.setdefault("both", []).append(_seconds(both.predict, docs))
    for name in configs:
        prefix = "" if name == "default" else "reference_"
        for what, times in seconds[name].items():
            out[f"{prefix}{what}_docs_per_s"] = round(n_docs / min(times), 2)
    out["speedup_both"] = round(out["both_docs_per_s"] / out["reference_both_docs_per_s"], 2)
    return out


def synth_examples(n: int, seed: int) -> list[TrainingExample]:
    """Labeled documents of the synthetic healthcare corpus (20% scans), as training rows."""
    out = []
    for doc in iter_documents(n, seed):
        page_words = PageWords(doc.words, doc.page_count)
        tags = align_entities(doc.words, doc.entities).tags
        example = to_training_example(doc.document_id, doc.doc_type, page_words, tags)
        out.append(replace(example, entities=list(doc.entities)))
    return out


def trained_bundles(
    backbone: str, models_dir: Path | None, n_train: int, epochs: int
) -> tuple[dict[str, ModelBundle], dict[str, Any]]:
    """A classifier and an extractor trained on the synthetic corpus (or loaded from DIR)."""
    info: dict[str, Any] = {}
    out: dict[str, ModelBundle] = {}
    examples: list[TrainingExample] | None = None
    for model_type in ("classifier", "extractor"):
        saved = models_dir / model_type if models_dir else None
        if saved is not None and (saved / SPEC_FILE).is_file():
            out[model_type] = ModelBundle.load(saved)
            info[f"{model_type}_source"] = str(saved)
            continue
        examples = examples or synth_examples(n_train, seed=7)
        started = time.perf_counter()
        config = TrainConfig(epochs=epochs, progress=False)
        result = train(model_type, examples, backbone=backbone, config=config)
        out[model_type] = result.bundle
        info[f"{model_type}_source"] = (
            f"trained here on {n_train} synthetic documents, {epochs} epochs, "
            f"{time.perf_counter() - started:.0f} s"
        )
        if saved is not None:
            result.bundle.save(saved)
    return out, info


def accuracy(
    backbone: str, models_dir: Path | None, n_train: int, epochs: int, n_test: int
) -> dict[str, Any]:
    """What the default inference options cost in accuracy, on held-out synthetic documents."""
    bundles, out = trained_bundles(backbone, models_dir, n_train, epochs)
    test = synth_examples(n_test, seed=8)
    docs = [example_document(e) for e in test]
    gold_types = [e.doc_type for e in test]
    # every labeled entity, as written (an entity OCR or alignment missed counts as a miss)
    gold_entities = [example_truth(e) for e in test]
    default, reference = InferenceOptions.from_env(), InferenceOptions.reference()
    out["test_documents"] = n_test
    types = {}
    for name, options in (("reference", reference), ("default", default)):
        predictor = ModelPredictor(bundles["classifier"], options=options)
        types[name] = predictor.classify(docs)
        if name == "default":
            out["classifier_quantized"] = is_quantized(predictor.inference_model())
        labels = [r.doc_type for r in types[name]]
        out[f"classifier_{name}_accuracy"] = round(
            classification_report(gold_types, labels).accuracy, 4
        )
    pairs = list(zip(types["default"], types["reference"], strict=True))
    out["classifier_label_agreement"] = round(
        sum(a.doc_type == b.doc_type for a, b in pairs) / len(pairs), 4
    )
    out["classifier_max_confidence_change"] = round(
        max(abs(a.confidence - b.confidence) for a, b in pairs), 4
    )
    entities = {}
    for name, options in (("reference", reference), ("default", default)):
        entities[name] = ModelPredictor(bundles["extractor"], options=options).extract(docs)
        out[f"extractor_{name}_f1"] = round(
            entity_report(gold_entities, entities[name]).micro.f1, 4
        )
    out["extractor_f1_delta"] = round(
        out["extractor_default_f1"] - out["extractor_reference_f1"], 4
    )
    # Entity F1 of the default's predictions scored against the reference's: 1.0 = identical.
    out["extractor_agreement_f1"] = round(
        entity_report(entities["reference"], entities["default"]).micro.f1, 4
    )
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
    DocumentPredictor(classifier, extractor).predict(docs)
    # VmHWM, not ru_maxrss: getrusage keeps the parent's peak across fork+exec.
    status = Path("/proc/self/status").read_text(encoding="utf-8").splitlines()
    hwm_kb = next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), 0)
    peak_mb = hwm_kb / 1024 or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    quantized = all(is_quantized(p.inference_model()) for p in (classifier, extractor))
    print(
        json.dumps(
            {"peak_rss_mb": round(peak_mb, 1), "load_both_s": round(load_s, 2), "int8": quantized}
        )
    )


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer documents and steps")
    parser.add_argument(
        "--models", type=Path, help="keep/reuse the trained accuracy models in this folder"
    )
    parser.add_argument("--serve-child", metavar="TRACKING_URI")
    parser.add_argument("--families", action="store_true", help="per-family cost (bench_families)")
    args, rest = parser.parse_known_args()
    if args.families:  # base-size random checkpoints per family; see bench_families
        from bench_families import main as families_main

        return families_main(["--quick"] * args.quick + rest)
    if args.serve_child:
        serve_child(args.serve_child)
        return
    configure_runtime()
    backbone = load_settings().backbone
    results: dict[str, Any] = {
        "backbone": backbone,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, CPU",
        "quick": args.quick,
        "load_average_start": load_average(),
    }
    results["inference"] = inference(backbone, 16 if args.quick else 64, 2 if args.quick else 3)
    results["load_average_after_inference"] = load_average()
    results["accuracy"] = accuracy(
        backbone,
        args.models,
        n_train=120 if args.quick else 240,
        epochs=2 if args.quick else 3,
        n_test=60 if args.quick else 150,
    )
    results["training"] = training_speed(backbone, 2 if args.quick else 5)
    with tempfile.TemporaryDirectory() as tmp:
        results["artifact"] = registered_size(backbone, Path(tmp))
        child = subprocess.run(
            [sys.executable, __file__, "--serve-child", results["artifact"]["tracking_uri"]],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        results["serving"] = json.loads(child.stdout.strip().splitlines()[-1])
        results["artifact"].pop("tracking_uri")
    results["load_average_end"] = load_average()
    inf, acc = results["inference"], results["accuracy"]
    rows = [
        ("both models, same documents (docs/s, 200 words)", inf["both_docs_per_s"]),
        ("  float32 reference (docs/s)", inf["reference_both_docs_per_s"]),
        ("classifier inference (docs/s, 200 words)", inf["classifier_docs_per_s"]),
        ("  float32 whole-document reference (docs/s)", inf["reference_classifier_docs_per_s"]),
        ("extractor inference (docs/s, 200 words)", inf["extractor_docs_per_s"]),
        ("  float32 reference (docs/s)", inf["reference_extractor_docs_per_s"]),
        ("classifier accuracy: default / reference", (
            f"{acc['classifier_default_accuracy']} / {acc['classifier_reference_accuracy']}"
        )),
        ("classifier labels agreeing with reference", acc["classifier_label_agreement"]),
        ("extractor entity F1: default / reference", (
            f"{acc['extractor_default_f1']} / {acc['extractor_reference_f1']}"
        )),
        ("extractor entities agreeing with reference (F1)", acc["extractor_agreement_f1"]),
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
        ("load average (1, 5, 15 min) start / end", (
            f"{results['load_average_start']} / {results['load_average_end']}"
        )),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}}  value")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
