"""Request and response bodies of the REST API (the public contract in DESIGN.md).

Requests are strict (unknown fields rejected, boxes checked) so a malformed review is refused
with 422 before anything is written. Boxes use the LayoutLM convention: integers 0-1000 in
page coordinates, ``[x0, y0, x1, y1]`` with ``x0 <= x1`` and ``y0 <= y1``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

NO_CONTROL_CHARS = r"^[^\x00-\x1f\x7f]*$"
"""Identifiers and labels are one printable line: no NUL (PostgreSQL text refuses it), no
newlines or escapes that could forge log lines or break the review page."""
NO_NUL = r"^[^\x00]*$"
"""Free text (entity values) may hold tabs and newlines, never a NUL byte."""
WORDS_PART = (
    "optional: the pages' words from your own OCR, a JSON list "
    '[{"page": 0, "words": [{"text": "Total", "bbox": [x0, y0, x1, y1]}]}] (pages count from 0, '
    "boxes 0-1000 with a top-left origin, each page's words in reading order); those pages "
    "are not OCR'd and the prediction is made on these words"
)
"""The upload's ``words`` form part, as the OpenAPI schema describes it."""

Label = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=100, pattern=NO_CONTROL_CHARS
    ),
]
DocumentId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=NO_CONTROL_CHARS)
]
Coordinate = Annotated[int, Field(ge=0, le=1000)]


def _assume_utc(value: datetime) -> datetime:
    """The store writes UTC; SQLite hands timestamps back without a zone, so add it."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


Timestamp = Annotated[datetime, AfterValidator(_assume_utc)]


ReadOnlyConfidence = Annotated[
    float | None,
    Field(
        description="read-only: accepted (so a prediction can be sent back unchanged as "
        "'correct as predicted') and ignored"
    ),
]


ReadOnlyFlag = Annotated[
    bool | None,
    Field(description="read-only (part of a prediction sent back unchanged): ignored"),
]


class EntityIn(BaseModel):
    """One verified entity; ``bbox`` is optional (a reviewer may type a value not on the page).

    A predicted entity sent back unchanged is valid: its read-only ``confidence`` and
    ``auto_accepted`` are ignored.
    """

    model_config = ConfigDict(extra="forbid")

    label: Label
    text: Annotated[str, Field(max_length=10_000, pattern=NO_NUL)]
    page: Annotated[int, Field(ge=0, le=100_000)] = 0
    bbox: Annotated[list[Coordinate], Field(min_length=4, max_length=4)] | None = None
    confidence: ReadOnlyConfidence = None
    auto_accepted: ReadOnlyFlag = None

    @field_validator("bbox")
    @classmethod
    def _ordered(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (value[0] > value[2] or value[1] > value[3]):
            raise ValueError("bbox must be [x0, y0, x1, y1] with x0 <= x1 and y0 <= y1")
        return value


class ReviewIn(BaseModel):
    """The reviewer's verified metadata: the document type and the complete entity list.

    The ``prediction`` object of an upload or ``GET`` answer is itself a valid review ("correct
    as predicted"): its read-only fields are accepted and ignored.
    """

    model_config = ConfigDict(extra="forbid")

    doc_type: Label
    entities: Annotated[list[EntityIn], Field(max_length=2_000)]
    doc_type_confidence: ReadOnlyConfidence = None
    thresholds: Annotated[
        dict[str, float] | None,
        Field(description="read-only (part of a prediction sent back unchanged): ignored"),
    ] = None
    doc_type_auto_accepted: ReadOnlyFlag = None
    needs_review: ReadOnlyFlag = None


class CommitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document_ids: Annotated[list[DocumentId], Field(min_length=1, max_length=1_000)]


class EntityOut(BaseModel):
    label: str
    text: str
    page: int
    bbox: list[int] | None = None
    confidence: float | None = None
    auto_accepted: bool = Field(
        default=False,
        description="read-only: its calibrated confidence clears its field's cut-off, chosen "
        "for the target accuracy (never set in a document drawn for QA review)",
    )


class PredictionOut(BaseModel):
    doc_type: str | None
    doc_type_confidence: float | None
    entities: list[EntityOut]
    thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="the predicting versions' confidence cut-offs (``doc_type`` or an entity "
        "label): a field at or above its cut-off is auto-accepted, one without a cut-off never",
    )
    doc_type_auto_accepted: bool | None = Field(
        default=None, description="read-only: the type is auto-accepted (None: no classifier)"
    )
    needs_review: bool = Field(
        default=True,
        description="read-only: a reviewer must look (not straight-through, or drawn for QA)",
    )


class ModelVersions(BaseModel):
    classifier: str | None
    extractor: str | None


class UploadOut(BaseModel):
    id: str
    content_hash: str
    page_count: int
    model_versions: ModelVersions
    prediction: PredictionOut
    review_url: str = Field(description="the review page of this document (relative URL)")


class VerifiedOut(BaseModel):
    doc_type: str | None
    entities: list[EntityOut]


class ReviewState(BaseModel):
    reviewed: bool
    committed: bool
    reviewer: str | None = None
    committed_by: str | None = None
    reviewed_at: Timestamp | None = None
    committed_at: Timestamp | None = None
    verified: VerifiedOut | None = None
    corrected: dict[str, bool | None] = Field(default_factory=dict)
    field_outcomes: dict[str, dict[str, dict[str, int]]] = Field(default_factory=dict)


class DocumentOut(BaseModel):
    id: str
    external_id: str | None
    filename: str | None
    media_type: str
    page_count: int
    ocr_pages: list[int]
    created_at: Timestamp | None
    model_versions: ModelVersions
    prediction: PredictionOut
    review: ReviewState


class QueueItem(BaseModel):
    id: str
    external_id: str | None
    filename: str | None
    media_type: str
    page_count: int
    created_at: Timestamp | None
    status: Literal["unreviewed", "reviewed", "committed"]
    needs_review: bool = True
    qa_sample: bool = False
    predicted_doc_type: str | None
    confidence: float | None = Field(
        description="the least confidence of the prediction (type and entities)"
    )
    model_versions: ModelVersions
    reviewer: str | None = None
    reviewed_at: Timestamp | None = None
    committed_at: Timestamp | None = None
    review_url: str


class Page(BaseModel):
    """One page of a listing: ``limit`` items from ``offset`` of ``total``."""

    total: int
    offset: int
    limit: int
    next_offset: int | None  # where the next page starts; None on the last

    @classmethod
    def of(cls, items: list[Any], *, total: int, offset: int, limit: int) -> Self:
        following = offset + len(items)
        return cls.model_validate(
            {
                "total": total,
                "offset": offset,
                "limit": limit,
                "next_offset": following if following < total else None,
                "items": items,
            }
        )


class QueueOut(Page):
    items: list[QueueItem]


class WordOut(BaseModel):
    text: str
    bbox: list[int]


class PageWordsOut(BaseModel):
    document_id: str
    page: int
    words: list[WordOut]


class LabelsOut(BaseModel):
    doc_types: list[str] = Field(description="the classifier's types and every predicted type")
    labels: list[str] = Field(
        description="the extractor's labels and every label predicted or used by reviewers"
    )


class ExportItem(BaseModel):
    id: str
    external_id: str | None
    filename: str | None
    media_type: str
    content_hash: str
    page_count: int
    doc_type: str | None
    entities: list[EntityOut]
    reviewer: str | None
    committed_at: Timestamp | None
    model_versions: ModelVersions


class ExportOut(Page):
    items: list[ExportItem]


class CommitOut(BaseModel):
    commit_id: int | None
    committed: int
    already_committed: int
    not_reviewed: int
    unknown: int
    corrected: dict[str, int]
    document_ids: dict[str, list[str]]
    message: str


class Estimate(BaseModel):
    """A live figure with its sample size and 95% Wilson interval; ``value`` None when n = 0."""

    value: float | None
    n: int
    lower: float
    upper: float


class FieldFigures(BaseModel):
    documents: int
    accuracy: Estimate
    precision: Estimate | None = None
    recall: Estimate | None = None
    f1: Estimate | None = None
    counts: dict[str, int]


class LiveAccuracy(BaseModel):
    version: str
    documents: int
    overall: Estimate
    fields: dict[str, FieldFigures]


class Automation(BaseModel):
    """Straight-through figures of a version: automation rates, the QA-measured accuracy of
    auto-accepted fields per field, and the stratified accuracy over all traffic."""

    documents: int
    document_rate: float
    fields: int
    field_rate: float
    qa_accuracy: dict[str, Estimate] = Field(default_factory=dict)
    stratified_accuracy: Estimate


class ModelStatus(BaseModel):
    model_type: str
    default_version: str | None
    serving_version: str | None
    registry_name: str | None = None
    default_name: str | None = Field(
        default=None,
        description="The default's attempt name (v2.1: the second attempt at v2); the registry "
        "version stays default_version.",
    )
    retrain_state: str | None = None
    state_reason: str | None = None
    thresholds: dict[str, float] = Field(default_factory=dict)
    promoted_at: Timestamp | None = None
    parent_version: str | None = None
    live_accuracy: LiveAccuracy | None = None
    automation: Automation | None = None


class ModelsOut(BaseModel):
    models: dict[str, ModelStatus]


class RollbackOut(BaseModel):
    model_type: str
    previous_version: str
    default_version: str


class ResetIn(BaseModel):
    reason: str = Field(default="", max_length=500, description="why (kept in the audit line)")


class ResetOut(BaseModel):
    """What ``reset`` changed: the retrain state before and after, the rows released."""

    model_type: str
    version: str
    previous_state: str
    state: str
    changed: bool
    cycle_id: str | None = None
    rows_released: int
    reason: str


class HealthOut(BaseModel):
    status: str
    models: dict[str, str | None]


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorOut(BaseModel):
    error: ErrorDetail
