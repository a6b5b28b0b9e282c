"""Turn store records into API responses (and review bodies into store records).

Live accuracy is computed from the counters the store keeps per (model type, version, field),
with the same formulas and Wilson intervals the retrain monitor uses, so the API and the
sensor never disagree about a model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError

from selfimprove_assets.api.errors import ApiError
from selfimprove_assets.api.schemas import (
    CommitOut,
    DocumentOut,
    EntityOut,
    Estimate,
    ExportItem,
    ExportOut,
    FieldFigures,
    LabelsOut,
    LiveAccuracy,
    ModelStatus,
    ModelVersions,
    PredictionOut,
    QueueItem,
    QueueOut,
    ReviewIn,
    ReviewState,
    VerifiedOut,
)
from selfimprove_assets.api.serving import ServedModels
from selfimprove_assets.lib.automation.report import version_automation
from selfimprove_assets.lib.feedback.live import live_figures
from selfimprove_assets.lib.interchange.export import ExportedDocument, first_set, latest_set
from selfimprove_assets.lib.kinds import KINDS as MODEL_KINDS
from selfimprove_assets.lib.kinds import kind_of
from selfimprove_assets.lib.loop.cycle import version_name
from selfimprove_assets.lib.monitor.stats import wilson_interval
from selfimprove_assets.lib.monitor.trigger import MetricEstimate, field_metrics
from selfimprove_assets.lib.store.repository import CommitResult, FeedbackStore

logger = logging.getLogger(__name__)

_FILE_FORMATS = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/tiff": "tiff",
}


def file_format(media_type: str) -> str:
    """The file format of an upload's media type, as storage names it (``pdf`` when unknown)."""
    return _FILE_FORMATS.get(media_type, "pdf")


def _entities(items: list[dict[str, Any]] | None) -> list[EntityOut]:
    out = []
    for item in items or []:
        bbox = item.get("bbox")
        out.append(
            EntityOut(
                label=str(item.get("label", "")),
                text=str(item.get("text", "")),
                page=int(item.get("page", 0) or 0),
                bbox=[int(v) for v in bbox] if bbox is not None else None,
                confidence=item.get("confidence"),
                auto_accepted=bool(item.get("auto_accepted")),
            )
        )
    return out


def _versions(by_type: Mapping[str, Any]) -> ModelVersions:
    return ModelVersions(classifier=by_type.get("classifier"), extractor=by_type.get("extractor"))


def prediction_out(
    classifier: dict[str, Any] | None,
    extractor: dict[str, Any] | None,
    thresholds: dict[str, float] | None = None,
    *,
    needs_review: bool = True,
) -> PredictionOut:
    """A stored prediction; ``thresholds`` are the cut-offs stored with it (a prediction
    stored before them has none). ``needs_review``: the document's routing."""
    classifier = classifier or {}
    accepted = classifier.get("auto_accepted")
    cutoffs = dict(classifier.get("cutoffs") or {}) | dict((extractor or {}).get("cutoffs") or {})
    return PredictionOut(
        doc_type=classifier.get("doc_type"),
        doc_type_confidence=classifier.get("confidence"),
        entities=_entities((extractor or {}).get("entities")),
        thresholds=cutoffs if thresholds is None else thresholds,
        doc_type_auto_accepted=bool(accepted) if accepted is not None else None,
        needs_review=needs_review,
    )


def review_url(document_id: str) -> str:
    return f"/review/{document_id}"


def document_view(store: FeedbackStore, document_id: str) -> DocumentOut:
    document = store.documents.get_document(document_id)
    return document_out(document)


def document_out(
    document: dict[str, Any], thresholds: dict[str, float] | None = None
) -> DocumentOut:
    feedback: dict[str, dict[str, Any]] = document["feedback"]
    cls = feedback.get("classifier", {})
    ext = feedback.get("extractor", {})
    rows = [r for r in (cls, ext) if r]
    reviewed = bool(rows) and all(r.get("verified") is not None for r in rows)
    committed = bool(rows) and all(r.get("committed_at") is not None for r in rows)
    verified = None
    if reviewed:
        verified = VerifiedOut(
            doc_type=(cls.get("verified") or {}).get("doc_type"),
            entities=_entities((ext.get("verified") or {}).get("entities")),
        )
    review = ReviewState(
        reviewed=reviewed,
        committed=committed,
        reviewer=first_set(rows, "reviewer"),
        committed_by=first_set(rows, "committed_by"),
        reviewed_at=latest_set(rows, "reviewed_at"),
        committed_at=latest_set(rows, "committed_at"),
        verified=verified,
        corrected={t: r.get("corrected") for t, r in feedback.items()},
        field_outcomes={t: r.get("field_outcomes") or {} for t, r in feedback.items()},
    )
    return DocumentOut(
        id=document["id"],
        external_id=document.get("external_id"),
        filename=document.get("filename"),
        media_type=document["media_type"],
        page_count=int(document["page_count"]),
        ocr_pages=list(document.get("ocr_pages") or []),
        created_at=document.get("created_at"),
        model_versions=_versions({t: r.get("model_version") or None for t, r in feedback.items()}),
        prediction=prediction_out(
            cls.get("predicted"),
            ext.get("predicted"),
            thresholds,
            needs_review=document.get("needs_review") is not False
            or bool(document.get("qa_sample")),
        ),
        review=review,
    )


def queue_out(total: int, items: list[dict[str, Any]], offset: int, limit: int) -> QueueOut:
    return QueueOut.of(
        [_queue_item(item) for item in items], total=total, offset=offset, limit=limit
    )


def _queue_item(item: dict[str, Any]) -> QueueItem:
    """The stored document's columns (by their names) and what its feedback rows say."""
    feedback: dict[str, dict[str, Any]] = item["feedback"]
    rows = list(feedback.values())
    return QueueItem.model_validate(
        {
            **item,
            "confidence": item["min_confidence"],
            "model_versions": _versions({t: r.get("model_version") for t, r in feedback.items()}),
            "reviewer": first_set(rows, "reviewer"),
            "reviewed_at": latest_set(rows, "reviewed_at"),
            "committed_at": latest_set(rows, "committed_at"),
            "review_url": review_url(item["id"]),
        }
    )


def as_utc(value: datetime | None) -> datetime | None:
    """A query timestamp in UTC (one without a zone is taken as UTC, as the store writes)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def labels_out(store: FeedbackStore, served: ServedModels) -> LabelsOut:
    known = store.documents.known_labels()
    types = set(known["doc_types"])
    labels = set(known["labels"])
    if served.classifier is not None:
        types.update(served.classifier.labels)
    if served.extractor is not None:
        labels.update(t[2:] for t in served.extractor.labels if t[:2] in ("B-", "I-"))
    return LabelsOut(doc_types=sorted(types), labels=sorted(labels))


def export_out(records: list[ExportedDocument], offset: int, limit: int) -> ExportOut:
    """A page of exported documents: each record's fields under the API's names."""
    items = [
        ExportItem.model_validate(
            {
                **asdict(r),
                "id": r.document_id,
                "entities": _entities([e.to_dict() for e in r.entities]),
                "model_versions": _versions(r.model_versions),
            }
        )
        for r in records[offset : offset + limit]
    ]
    return ExportOut.of(items, total=len(records), offset=offset, limit=limit)


def verified_dicts(review: ReviewIn) -> dict[str, dict[str, Any]]:
    """The store's ``verified`` JSON per model type (same shapes as predictions, no confidence)."""
    entities = []
    for e in review.entities:
        entities.append({"label": e.label, "text": e.text, "page": e.page, "bbox": e.bbox})
    return {"classifier": {"doc_type": review.doc_type}, "extractor": {"entities": entities}}


_RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock detected, serialization failure


def _retryable(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:  # the connection dropped (server restart, idle kill)
        return True
    if not isinstance(exc, OperationalError):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return sqlstate in _RETRYABLE_SQLSTATES or "database is locked" in str(exc.orig)


def commit(
    store: FeedbackStore, document_ids: list[str], who: str, attempts: int = 3
) -> CommitResult:
    """Commit with the ids in one global order, retrying a transaction the database aborted.

    Sorting matters on PostgreSQL: the store locks feedback rows in the order it is given, so
    two concurrent commits of overlapping batches in different orders could deadlock. Retrying
    is safe because a commit is idempotent: an aborted transaction wrote nothing, and one whose
    connection dropped after the server committed answers "already committed" the second time.
    A store that stays down ends in the API's 503 (``errors.store_unavailable``).
    """
    ids = sorted(dict.fromkeys(document_ids))
    for attempt in range(1, attempts + 1):
        try:
            return store.commits.commit_documents(ids, committed_by=who)
        except DBAPIError as exc:
            if attempt == attempts or not _retryable(exc):
                raise
            logger.warning("commit aborted by the database (attempt %d), retrying", attempt)
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


def commit_out(result: CommitResult) -> CommitOut:
    data = result.to_dict()
    parts = [f"committed {data['committed']} document(s)"]
    if data["already_committed"]:
        parts.append(f"{data['already_committed']} already committed (nothing changed)")
    if data["not_reviewed"]:
        parts.append(f"{data['not_reviewed']} not reviewed yet (skipped)")
    if data["unknown"]:
        parts.append(f"{data['unknown']} unknown id(s) (skipped)")
    return CommitOut(message="; ".join(parts), **data)


def _estimate(m: MetricEstimate) -> Estimate:
    return Estimate(value=m.value, n=m.n, lower=m.lower, upper=m.upper)


def live_accuracy(store: FeedbackStore, model_type: str, version: str) -> LiveAccuracy:
    entity_level = kind_of(model_type).entity_level
    fields: dict[str, FieldFigures] = {}
    correct = total = 0
    for name, figure in live_figures(store, model_type, version).items():
        metrics = field_metrics(figure, entity_level=entity_level)
        fields[name] = FieldFigures(
            documents=figure.committed,
            accuracy=_estimate(metrics["accuracy"]),
            precision=_estimate(metrics["precision"]) if "precision" in metrics else None,
            recall=_estimate(metrics["recall"]) if "recall" in metrics else None,
            f1=_estimate(metrics["f1"]) if "f1" in metrics else None,
            counts=asdict(figure),
        )
        if entity_level:
            correct += figure.unchanged
            total += figure.entity_total
        else:
            correct += figure.committed - figure.corrected
            total += figure.committed
    interval = wilson_interval(correct, total)
    overall = Estimate(
        value=correct / total if total else None,
        n=total,
        lower=interval.lower,
        upper=interval.upper,
    )
    documents = (
        store.counters.counter_commit_total(model_type, version)
        if entity_level
        else fields.get(
            "doc_type", FieldFigures(documents=0, accuracy=overall, counts={})
        ).documents
    )
    return LiveAccuracy(version=version, documents=documents, overall=overall, fields=fields)


def model_status(store: FeedbackStore, model_type: str, serving: str | None) -> ModelStatus:
    info = store.models.get_default(model_type)
    if info is None:
        return ModelStatus(model_type=model_type, default_version=None, serving_version=serving)
    return ModelStatus.model_validate(
        {
            **asdict(info),  # the model table's columns, by their names
            "default_version": info.version,
            "serving_version": serving,
            "default_name": version_name(info.baseline_metrics, info.version),
            "live_accuracy": live_accuracy(store, model_type, info.version),
            "automation": version_automation(store, model_type, info.version),
        }
    )


def require_model_type(model_type: str) -> str:
    if model_type not in MODEL_KINDS:
        raise ApiError(404, f"unknown model type {model_type!r}: use classifier or extractor")
    return model_type
