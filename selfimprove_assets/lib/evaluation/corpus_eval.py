"""``selfimprove evaluate DIR``: score the current default models on any labeled folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selfimprove_assets.lib.deployment import score_version
from selfimprove_assets.lib.documents.corpus import align_entities, read_labels, to_training_example
from selfimprove_assets.lib.documents.page_store import PageStore
from selfimprove_assets.lib.evaluation.metrics import ClassificationReport, EntityReport
from selfimprove_assets.lib.settings import Settings
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import MODEL_TYPES, TrainingExample


def folder_examples(settings: Settings, folder: Path) -> tuple[list[TrainingExample], list[str]]:
    """Labeled folder → training examples (pages cached by hash); also the rejected files."""
    pages = PageStore(settings.pages_dir)
    examples: list[TrainingExample] = []
    rejected: list[str] = []
    for doc in read_labels(folder):
        try:
            _, words, _ = pages.extract_cached(doc.file)
        except Exception as exc:  # one unreadable file does not stop the evaluation
            rejected.append(f"{doc.file.name}: {exc}")
            continue
        tags = align_entities(words.words, doc.entities).tags
        examples.append(to_training_example(doc.document_id, doc.doc_type, words, tags))
    return examples, rejected


def evaluate_folder(settings: Settings, folder: Path) -> dict[str, Any]:
    examples, rejected = folder_examples(settings, folder)
    if not examples:
        raise ValueError(f"no readable document in {folder}")
    store = FeedbackStore(settings.database_url)
    rows: list[dict[str, Any]] = []
    reports: dict[str, Any] = {}
    for model_type in MODEL_TYPES:
        default = store.get_default(model_type)
        if default is None:
            raise ValueError(f"no default {model_type} yet: run `selfimprove train-baseline`")
        result = score_version(settings.mlflow_tracking_uri, model_type, default.version, examples)
        reports[model_type] = result.to_dict() | {"version": default.version}
        report = result.report
        if isinstance(report, ClassificationReport):
            rows.append(
                _row(model_type, default.version, "accuracy", None, None, report.accuracy, report.n)
            )
            for name, prf in sorted(report.per_type.items()):
                rows.append(
                    _row(
                        model_type,
                        default.version,
                        name,
                        prf.precision,
                        prf.recall,
                        prf.f1,
                        prf.support,
                    )
                )
        elif isinstance(report, EntityReport):
            micro = report.micro
            rows.append(
                _row(
                    model_type,
                    default.version,
                    "micro",
                    micro.precision,
                    micro.recall,
                    micro.f1,
                    micro.support,
                )
            )
            for name, prf in sorted(report.per_label.items()):
                rows.append(
                    _row(
                        model_type,
                        default.version,
                        name,
                        prf.precision,
                        prf.recall,
                        prf.f1,
                        prf.support,
                    )
                )
    return {"documents": len(examples), "rejected": rejected, "rows": rows, "reports": reports}


def _row(
    model: str, version: str, name: str, p: float | None, r: float | None, score: float, n: int
) -> dict[str, Any]:
    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    return {
        "model": model,
        "version": version,
        "field": name,
        "precision": fmt(p),
        "recall": fmt(r),
        "score": fmt(score),
        "n": n,
    }
