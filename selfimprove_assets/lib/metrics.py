"""Evaluation metrics for both model types, as pure functions over labels and entities.

Every figure comes with its support (sample size), because the promotion decision compares
models on small golden sets where a point of F1 may be one document.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from selfimprove_assets.lib.text import normalize_text
from selfimprove_assets.lib.types import Entity


@dataclass(frozen=True)
class PRF:
    precision: float
    recall: float
    f1: float
    support: int  # true items of this class
    predicted: int = 0
    true_positives: int = 0


def prf(tp: int, n_pred: int, n_true: int) -> PRF:
    """Precision/recall/F1 from counts; 0 where undefined (no predictions or no truths)."""
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PRF(precision, recall, f1, n_true, n_pred, tp)


@dataclass
class ClassificationReport:
    accuracy: float
    n: int
    correct: int
    per_type: dict[str, PRF] = field(default_factory=dict)
    macro_f1: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EntityReport:
    micro: PRF
    macro: PRF
    per_label: dict[str, PRF]
    n_documents: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _macro(parts: Sequence[PRF], support: int) -> PRF:
    """Unweighted mean over every class seen in the truth or the predictions (as sklearn)."""
    if not parts:
        return PRF(0.0, 0.0, 0.0, support)
    n = len(parts)
    return PRF(
        sum(p.precision for p in parts) / n,
        sum(p.recall for p in parts) / n,
        sum(p.f1 for p in parts) / n,
        support,
        sum(p.predicted for p in parts),
        sum(p.true_positives for p in parts),
    )


def classification_report(
    y_true: Sequence[str], y_pred: Sequence[str | None]
) -> ClassificationReport:
    """Accuracy and per-type precision/recall/F1; a ``None`` prediction counts as wrong."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    correct = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == p)
    types = sorted(set(y_true) | {p for p in y_pred if p is not None})
    per_type = {}
    for name in types:
        tp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == name and p == name)
        per_type[name] = prf(
            tp, sum(1 for p in y_pred if p == name), sum(1 for t in y_true if t == name)
        )
    return ClassificationReport(
        accuracy=correct / len(y_true) if y_true else 0.0,
        n=len(y_true),
        correct=correct,
        per_type=per_type,
        macro_f1=_macro(list(per_type.values()), len(y_true)).f1,
    )


def _key(entity: Entity) -> tuple[str, str, int]:
    return (entity.label, normalize_text(entity.text), int(entity.page))


def entity_report(
    true_docs: Sequence[Sequence[Entity]], pred_docs: Sequence[Sequence[Entity]]
) -> EntityReport:
    """Entity-level scores: a prediction matches a true entity of the same document when label,
    normalized text and page agree (each true entity matches at most once)."""
    if len(true_docs) != len(pred_docs):
        raise ValueError(f"{len(true_docs)} true documents but {len(pred_docs)} predicted")
    tp: Counter[str] = Counter()
    n_true: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    for truth, pred in zip(true_docs, pred_docs, strict=True):
        t_keys = Counter(_key(e) for e in truth)
        p_keys = Counter(_key(e) for e in pred)
        for key, count in (t_keys & p_keys).items():
            tp[key[0]] += count
        for key, count in t_keys.items():
            n_true[key[0]] += count
        for key, count in p_keys.items():
            n_pred[key[0]] += count
    labels = sorted(set(n_true) | set(n_pred))
    per_label = {name: prf(tp[name], n_pred[name], n_true[name]) for name in labels}
    micro = prf(sum(tp.values()), sum(n_pred.values()), sum(n_true.values()))
    return EntityReport(
        micro=micro,
        macro=_macro(list(per_label.values()), micro.support),
        per_label=per_label,
        n_documents=len(true_docs),
    )


def flat_metrics(report: ClassificationReport | EntityReport, prefix: str = "") -> dict[str, float]:
    """A flat ``name -> number`` view (for MLflow, Dagster metadata and JSON summaries)."""
    if isinstance(report, ClassificationReport):
        out = {"accuracy": report.accuracy, "macro_f1": report.macro_f1, "n": float(report.n)}
        for name, part in report.per_type.items():
            out[f"f1.{name}"] = part.f1
            out[f"support.{name}"] = float(part.support)
    else:
        out = {
            "micro_precision": report.micro.precision,
            "micro_recall": report.micro.recall,
            "micro_f1": report.micro.f1,
            "macro_f1": report.macro.f1,
            "support": float(report.micro.support),
            "n": float(report.n_documents),
        }
        for name, part in report.per_label.items():
            out[f"f1.{name}"] = part.f1
            out[f"support.{name}"] = float(part.support)
    return {f"{prefix}{k}": float(v) for k, v in out.items()}
