"""``selfimprove evaluate DIR``: score the current default models on any labeled folder.

The folder is scored against its labels as written: every labeled entity counts (one the OCR
or the alignment cannot place on any word is a miss), and predicted values are compared with
the labeled values (see :mod:`selfimprove_assets.lib.evaluation.scoring`). Beside the scores
the report gives the documents scored, the files that could not be read, the alignment
coverage per label and the OCR word recall (:mod:`selfimprove_assets.lib.evaluation.coverage`),
so a low score can be told apart from a reader that missed the words. Pages are cached by
content hash, so scoring a folder again extracts nothing. A folder's given words
(``words.jsonl``) are scored on as given, and their pages are not read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfimprove_assets.lib.documents.alignment import align_entities
from selfimprove_assets.lib.documents.corpus import read_splits, split_corpus, to_training_example
from selfimprove_assets.lib.documents.corpus_pages import CorpusPages
from selfimprove_assets.lib.documents.labels import CorpusError, LabeledDocument, read_labels
from selfimprove_assets.lib.documents.page_store import PageStore
from selfimprove_assets.lib.evaluation.coverage import CoverageTally
from selfimprove_assets.lib.evaluation.scoring import score_version
from selfimprove_assets.lib.metrics import ClassificationReport, EntityReport
from selfimprove_assets.lib.settings import Settings
from selfimprove_assets.lib.types import MODEL_TYPES, TrainingExample

SPLITS = ("test", "train")
NO_DEFAULT = "not trained/not needed"


@dataclass
class LabeledFolder:
    """A labeled folder read for scoring: examples carrying their labeled entities."""

    examples: list[TrainingExample]
    rejected: list[str] = field(default_factory=list)
    coverage: CoverageTally = field(default_factory=CoverageTally)
    split: str | None = None
    labeled_documents: int = 0


def select_split(
    folder: Path, docs: list[LabeledDocument], split: str | None
) -> list[LabeledDocument]:
    """The documents of ``split`` as the folder's ``splits.json`` says (all when ``None``)."""
    if split is None:
        return docs
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    splits = read_splits(folder)
    if splits is None:
        raise CorpusError(
            f"{folder} has no splits.json, so it has no {split} split; "
            'add one ({"train": [ids], "test": [ids]}) or evaluate the whole folder'
        )
    train, test = split_corpus(
        [d.document_id for d in docs], [d.doc_type for d in docs], splits=splits
    )
    wanted = set(test if split == "test" else train)
    chosen = [d for d in docs if d.document_id in wanted]
    if not chosen:
        raise CorpusError(f"the {split} split of {folder}/splits.json names no document")
    return chosen


def load_folder(settings: Settings, folder: Path, split: str | None = None) -> LabeledFolder:
    """Labeled folder → examples with their labeled entities (pages cached by hash; given
    words where the folder has them). A document whose given words are bad is rejected with
    its reason, as an unreadable file is."""
    labeled = read_labels(folder)
    pages = CorpusPages.open(
        PageStore(settings.pages_dir), Path(folder), [d.document_id for d in labeled]
    )
    docs = select_split(Path(folder), labeled, split)
    result = LabeledFolder(examples=[], split=split, labeled_documents=len(docs))
    result.rejected += [p.reason for p in pages.orphans]
    for doc in docs:
        try:
            _, words, _ = pages.pages_of(doc.document_id, doc.file)
        except Exception as exc:  # one unreadable file does not stop the evaluation
            result.rejected.append(f"{doc.file.name}: {exc}")
            continue
        alignment = align_entities(words.words, doc.entities)
        result.coverage.add(doc.entities, words, alignment)
        example = to_training_example(doc.document_id, doc.doc_type, words, alignment.tags)
        example.entities = list(doc.entities)
        result.examples.append(example)
    return result


def folder_examples(settings: Settings, folder: Path) -> tuple[list[TrainingExample], list[str]]:
    """Labeled folder → training examples (with labeled entities); also the rejected files."""
    loaded = load_folder(settings, folder)
    return loaded.examples, loaded.rejected


def evaluate_folder(
    settings: Settings,
    folder: Path,
    split: str | None = None,
    *,
    defaults: Mapping[str, str | None],
) -> dict[str, Any]:
    """Score every model type that has a default on ``folder`` (or its ``split``).

    ``defaults`` is each type's default version, None where it has none (the caller reads it
    from the model table: ``lib.feedback.live.default_versions``). A type without a default
    (not trained, or not needed: a one-type corpus has no classifier) gets one row saying so;
    it is an error only when no type has a default.
    """
    loaded = load_folder(settings, folder, split)
    examples = loaded.examples
    if not examples:
        raise ValueError(f"no readable document in {folder}")
    if all(defaults.get(t) is None for t in MODEL_TYPES):
        raise ValueError("no default model of any type yet: run `selfimprove train-baseline`")
    rows: list[dict[str, Any]] = []
    reports: dict[str, Any] = {}
    not_scored: list[str] = []
    for model_type in MODEL_TYPES:
        version = defaults.get(model_type)
        if version is None:
            not_scored.append(model_type)
            rows.append(_row(model_type, "-", NO_DEFAULT, None, None, None, 0))
            continue
        result = score_version(settings.mlflow_tracking_uri, model_type, version, examples)
        reports[model_type] = result.to_dict() | {"version": version}
        report = result.report
        if isinstance(report, ClassificationReport):
            rows.append(
                _row(model_type, version, "accuracy", None, None, report.accuracy, report.n)
            )
            parts = report.per_type
        elif isinstance(report, EntityReport):
            micro = report.micro
            rows.append(
                _row(
                    model_type,
                    version,
                    "micro",
                    micro.precision,
                    micro.recall,
                    micro.f1,
                    micro.support,
                )
            )
            parts = report.per_label
        else:  # pragma: no cover - score() returns one of the two
            raise TypeError(f"unexpected report {type(report).__name__}")
        for name, prf in sorted(parts.items()):
            rows.append(
                _row(model_type, version, name, prf.precision, prf.recall, prf.f1, prf.support)
            )
    return {
        "documents": len(examples),
        "labeled_documents": loaded.labeled_documents,
        "split": split or "all",
        "rejected": loaded.rejected,
        "rows": rows,
        "reports": reports,
        "not_scored": not_scored,
        "coverage": loaded.coverage.to_dict(),
        "coverage_rows": loaded.coverage.rows(),
    }


def _row(
    model: str,
    version: str,
    name: str,
    p: float | None,
    r: float | None,
    score: float | None,
    n: int,
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
