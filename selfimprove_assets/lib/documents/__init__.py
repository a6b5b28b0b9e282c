"""Documents: page extraction (text layer and OCR), the page cache, the labeled-corpus
contract and the synthetic healthcare corpus (``documents.synth``)."""

from selfimprove_assets.lib.documents.alignment import (
    UNALIGNED_REASONS,
    AlignmentResult,
    align_entities,
    alignment_summary,
)
from selfimprove_assets.lib.documents.corpus import read_splits, split_corpus, to_training_example
from selfimprove_assets.lib.documents.labels import (
    CorpusError,
    LabeledDocument,
    read_labels,
    write_labels,
)
from selfimprove_assets.lib.documents.ocr import OcrSettings
from selfimprove_assets.lib.documents.ocr_quality import word_recall
from selfimprove_assets.lib.documents.page_store import CachedResult, PageStore, sha256_file
from selfimprove_assets.lib.documents.pages import (
    DocumentError,
    ExtractResult,
    detect_type,
    extract_many,
    extract_pages,
    extract_pages_from_bytes,
)

__all__ = [
    "UNALIGNED_REASONS",
    "AlignmentResult",
    "CachedResult",
    "CorpusError",
    "DocumentError",
    "ExtractResult",
    "LabeledDocument",
    "OcrSettings",
    "PageStore",
    "align_entities",
    "alignment_summary",
    "detect_type",
    "extract_many",
    "extract_pages",
    "extract_pages_from_bytes",
    "read_labels",
    "read_splits",
    "sha256_file",
    "split_corpus",
    "to_training_example",
    "word_recall",
    "write_labels",
]
