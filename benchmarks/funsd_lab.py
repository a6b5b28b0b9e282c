"""Research harness for the extractor on FUNSD: one training run per call, both protocols.

``bench_real.py`` measures the product path (Dagster assets, the training job, the registry);
this harness calls the same library code directly (``lib.models.training.train`` with the
product's recipe and a full fine-tune, the serving predictor, ``lib.evaluation.scoring``) so
that a lever can be measured in one process, with a seed, at a size::

    python benchmarks/funsd_lab.py --protocol gold --size 25 --seed 0 [--set word_shape=true]

- ``gold``: FUNSD's own words (``words.jsonl``, in the order given); ``ocr``: our OCR of the
  scans (a page cache under ``--cache``, so every scan is read once across runs).
- Every labeled entity of the 50 test forms is truth (a missed alignment is a miss); the
  ceiling is what a labeler perfect on those words scores.
- ``--set KNOB=VALUE`` sets a ``TrainConfig`` knob (repeatable); ``--decoders`` scores the
  trained model with each named decoder where the predictor offers the choice.

Each run appends one JSON object to ``--out`` (default ``benchmarks/results/funsd_lab.jsonl``).
FUNSD is research-use data: it is read from where it lies, never copied into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from funsd_corpus import DEFAULT_FUNSD  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "funsd_lab.jsonl"
LABELS = ("question", "answer", "header")


def gold_pages(funsd: Path) -> dict[str, Any]:
    """FUNSD's own words per document (one page each), in the order given."""
    from selfimprove_assets.lib.types import PageWords, Word

    pages: dict[str, Any] = {}
    with (funsd / "words.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            record = json.loads(line)
            words = [
                Word(w["text"], tuple(int(v) for v in w["bbox"]), int(record["page"]))  # type: ignore[arg-type]
                for w in record["words"]
                if w["text"].strip()
            ]
            pages[record["document_id"]] = PageWords(words=words, page_count=1)
    return pages


def ocr_pages(funsd: Path, records: dict[str, dict[str, Any]], cache: Path) -> dict[str, Any]:
    """Our OCR of every scan, through the product's page cache."""
    from selfimprove_assets.lib.documents.page_store import PageStore

    store = PageStore(cache)
    ids = sorted(records)
    paths = [funsd / records[i]["file"] for i in ids]
    results = store.extract_many_cached(paths, workers=2)
    out = {}
    for doc_id, result in zip(ids, results, strict=True):
        if result.pages is None:
            raise RuntimeError(f"{doc_id}: {result.error}")
        out[doc_id] = result.pages
    return out


def examples_of(funsd: Path, ids: list[str], pages: dict[str, Any]) -> list[Any]:
    from selfimprove_assets.lib.documents.alignment import align_entities
    from selfimprove_assets.lib.documents.corpus import to_training_example
    from selfimprove_assets.lib.documents.labels import read_labels

    docs = {d.document_id: d for d in read_labels(funsd)}
    out = []
    for doc_id in ids:
        doc = docs[doc_id]
        words = pages[doc_id]
        alignment = align_entities(words.words, doc.entities)
        example = to_training_example(doc_id, doc.doc_type, words, alignment.tags)
        example.entities = list(doc.entities)
        out.append(example)
    return out


def knob_value(config_cls: Any, text: str) -> tuple[str, Any]:
    """``KNOB=VALUE`` for a ``TrainConfig`` field; pydantic converts the text to its type."""
    name, _, raw = text.partition("=")
    if name not in config_cls.model_fields:
        raise SystemExit(f"--set: unknown TrainConfig knob {name!r}")
    return name, raw


def figures(report: Any) -> dict[str, Any]:
    out: dict[str, float | None] = {"micro_f1": round(float(report.micro.f1), 4)}
    for label in LABELS:
        stats = report.per_label.get(label)
        out[f"f1_{label}"] = round(float(stats.f1), 4) if stats is not None else None
    out["precision"] = round(float(report.micro.precision), 4)
    out["recall"] = round(float(report.micro.recall), 4)
    return out


def score_of(model_score: Any) -> float:
    return float(model_score.headline)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--protocol", choices=("gold", "ocr", "synth"), default="gold",
        help="synth: the synthetic corpus instead (--size documents, 200 held out)",
    )  # fmt: skip
    parser.add_argument("--size", type=int, default=149)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KNOB=VALUE")
    parser.add_argument("--decoders", default="", help="comma-separated decoders to score")
    parser.add_argument("--tag", default="", help="a name for this row (the lever)")
    parser.add_argument("--funsd", type=Path, default=DEFAULT_FUNSD)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/funsd-pages"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--save", type=Path, default=None, help="save the trained bundle here")
    parser.add_argument("--load", type=Path, default=None, help="score a saved bundle instead")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if not (args.funsd / "labels.jsonl").is_file():
        parser.error(f"{args.funsd} holds no labels.jsonl (pass --funsd)")

    import logging

    import torch

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for noisy in ("mlflow", "httpx", "urllib3", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from funsd_corpus import read_funsd, training_order

    from selfimprove_assets.lib.evaluation.scoring import score, score_extraction
    from selfimprove_assets.lib.models.predictor import ModelPredictor
    from selfimprove_assets.lib.models.recipe import TrainConfig
    from selfimprove_assets.lib.models.tags import example_entities
    from selfimprove_assets.lib.models.training import train

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    if args.protocol == "synth":
        from bench_models import synth_examples

        train_ex, test_ex = synth_examples(args.size, seed=7), synth_examples(200, seed=8)
    else:
        records, splits = read_funsd(args.funsd)
        if args.protocol == "gold":
            pages = gold_pages(args.funsd)
        else:
            pages = ocr_pages(args.funsd, records, args.cache)
        train_ids = training_order(splits["train"])[: args.size]
        train_ex = examples_of(args.funsd, train_ids, pages)
        test_ex = examples_of(args.funsd, splits["test"], pages)
    pages_s = time.perf_counter() - t0
    ceiling = score_extraction(test_ex, [example_entities(e) for e in test_ex])

    knobs = dict(knob_value(TrainConfig, s) for s in args.set)
    config = TrainConfig(full_finetune=True, seed=args.seed, progress=False, **knobs)
    from selfimprove_assets.lib.models.artifacts import ModelBundle
    from selfimprove_assets.lib.settings import load_settings

    t0 = time.perf_counter()
    if args.load is not None:
        bundle = ModelBundle.load(args.load)
        steps = best_epoch = n_train = n_val = None
    else:
        result = train("extractor", train_ex, config=config, backbone=load_settings().backbone)
        bundle = result.bundle
        steps, best_epoch = result.steps, result.best_epoch
        n_train, n_val = result.n_train, result.n_val
        if args.save is not None:
            bundle.save(args.save)
    train_s = time.perf_counter() - t0
    predictor = ModelPredictor(bundle)
    t0 = time.perf_counter()
    scored = score(predictor, test_ex)
    eval_s = time.perf_counter() - t0
    row: dict[str, Any] = {
        "tag": args.tag or ",".join(args.set) or "default",
        "protocol": args.protocol,
        "size": args.size,
        "seed": args.seed,
        "knobs": knobs,
        **figures(scored.report),
        "ceiling": round(ceiling.headline, 4),
        "share_of_ceiling": round(score_of(scored) / max(ceiling.headline, 1e-9), 4),
        "train_minutes": round(train_s / 60, 2),
        "eval_seconds": round(eval_s, 1),
        "pages_seconds": round(pages_s, 1),
        "steps": steps,
        "best_epoch": best_epoch,
        "n_train": n_train,
        "n_val": n_val,
        "loaded": str(args.load) if args.load else None,
        "threads": args.threads,
    }
    decoders = [d for d in args.decoders.split(",") if d.strip()]
    if decoders:
        row["decoders"] = {}
        for name in decoders:
            alt = ModelPredictor(bundle, decoder=name)
            row["decoders"][name] = figures(score(alt, test_ex).report)
            # the learnt cardinality rule, applied to the same model (a decode-time rule)
            from selfimprove_assets.lib.models.decoding import single_value_labels

            learnt = single_value_labels(train_ex)
            if learnt:
                saved = bundle.spec.single_value_labels
                bundle.spec.single_value_labels = learnt
                alt = ModelPredictor(bundle, decoder=name)
                row["decoders"][f"{name}+single"] = figures(score(alt, test_ex).report) | {
                    "single_value_labels": learnt
                }
                bundle.spec.single_value_labels = saved
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")
    print(json.dumps(row, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
