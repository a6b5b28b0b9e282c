"""What each synthetic document type says: titles, field captions, prose and tables.

Types differ in their titles and vocabulary (a model can tell them apart from the text) but
several titles and captions per type, and several layouts, keep them from being identical
strings. The ``alternate`` vocabulary is the ``new_vocabulary`` drift scenario.

The words are data, in ``vocab.json`` beside this module; it is read once, at import.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DocTypeSpec:
    name: str
    titles: tuple[str, ...]
    alt_titles: tuple[str, ...]
    labels: tuple[str, ...]
    prose: tuple[str, ...]  # sentences with {label} placeholders for entity values
    notes: tuple[str, ...]  # unlabeled type vocabulary
    table: str  # which content table the type carries (see layouts.content_table)


VOCABULARY_FILE = Path(__file__).with_name("vocab.json")
"""The words themselves: ``captions`` and ``alt_captions`` (three captions per entity label),
and per document type its titles, alternate titles, labels, prose, notes and content table."""


def _spec(name: str, entry: dict[str, Any]) -> DocTypeSpec:
    """A type's entry in the file: ``table`` names its content table, every other key is a
    list of words."""
    words = {key: tuple(value) for key, value in entry.items() if key != "table"}
    return DocTypeSpec(name=name, table=entry["table"], **words)


def _load(
    path: Path,
) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]], dict[str, DocTypeSpec]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    captions, alternate = (
        {label: tuple(words) for label, words in data[key].items()}
        for key in ("captions", "alt_captions")
    )
    types = {name: _spec(name, entry) for name, entry in data["doc_types"].items()}
    return captions, alternate, types


CAPTIONS, ALT_CAPTIONS, DOC_TYPES = _load(VOCABULARY_FILE)

BASE_TYPES = (
    "referral_letter",
    "lab_report",
    "prescription",
    "insurance_claim",
    "discharge_summary",
    "invoice",
)
"""The types of the baseline corpus; ``itemized_statement`` appears only in ``type_split``."""


def captions(label: str, vocabulary: str) -> tuple[str, ...]:
    table = ALT_CAPTIONS if vocabulary == "alternate" else CAPTIONS
    return table[label]


def titles(spec: DocTypeSpec, vocabulary: str) -> tuple[str, ...]:
    return spec.alt_titles if vocabulary == "alternate" else spec.titles
