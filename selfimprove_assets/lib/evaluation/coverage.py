"""What the page words of a labeled set can show a model: alignment coverage and OCR recall.

A score counts every labeled entity, so an entity the alignment could not place on any word
(its text was misread, or is not on the page) is a miss for every model. These two figures,
reported beside the score, say how much of a score's shortfall is the reader's and not the
model's: *alignment coverage* (labeled entities placed on words, per label, with the reasons
for the others) and *OCR word recall* (labeled words found among the extracted words).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from selfimprove_assets.lib.documents.alignment import AlignmentResult, alignment_summary
from selfimprove_assets.lib.documents.ocr_quality import recall_ratio, word_recall
from selfimprove_assets.lib.types import Entity, PageWords


@dataclass
class CoverageTally:
    """Accumulates one labeled document at a time (its entities, words and alignment)."""

    alignments: list[AlignmentResult] = field(default_factory=list)
    words_found: int = 0
    words_total: int = 0
    scanned_found: int = 0
    scanned_total: int = 0
    scanned_documents: int = 0

    def add(self, entities: list[Entity], pages: PageWords, alignment: AlignmentResult) -> None:
        self.alignments.append(alignment)
        found, total = word_recall([e.text for e in entities], pages.words)
        self.words_found += found
        self.words_total += total
        if pages.ocr_pages:
            self.scanned_documents += 1
            self.scanned_found += found
            self.scanned_total += total

    def by_label(self) -> dict[str, dict[str, Any]]:
        """``alignment_summary``: per label aligned, total and the reasons of the misses."""
        return alignment_summary(self.alignments)

    def rows(self) -> list[dict[str, Any]]:
        """One table row per label: aligned / total, coverage and why the others were not."""
        return coverage_rows(self.by_label())

    def to_dict(self) -> dict[str, Any]:
        by_label = self.by_label()
        total = sum(int(row["total"]) for row in by_label.values())
        aligned = sum(int(row["aligned"]) for row in by_label.values())
        out: dict[str, Any] = {
            "entities_total": total,
            "entities_aligned": aligned,
            "alignment_coverage": aligned / total if total else 1.0,
            "alignment_by_label": by_label,
            "labeled_words": self.words_total,
            "labeled_words_found": self.words_found,
            "ocr_word_recall": recall_ratio(self.words_found, self.words_total),
            "scanned_documents": self.scanned_documents,
        }
        if self.scanned_total:
            out["ocr_word_recall_scanned"] = recall_ratio(self.scanned_found, self.scanned_total)
        return out


def coverage_rows(by_label: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Table rows of an ``alignment_summary``."""
    rows = []
    for label, row in by_label.items():
        total, aligned = int(row["total"]), int(row["aligned"])
        reasons = row.get("reasons") or {}
        rows.append(
            {
                "label": label,
                "aligned": aligned,
                "total": total,
                "coverage": f"{aligned / total:.3f}" if total else "-",
                "unaligned": ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or "-",
            }
        )
    return rows
