from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from selfimprove_assets.lib.documents.alignment import align_entities
from selfimprove_assets.lib.documents.labels import read_labels
from selfimprove_assets.lib.documents.pages import extract_pages_from_bytes
from selfimprove_assets.lib.documents.synth import SCENARIOS, generate_corpus, iter_documents
from selfimprove_assets.lib.documents.synth.vocab import DOC_TYPES


def test_same_seed_same_labels(tmp_path: Path) -> None:
    a = generate_corpus(tmp_path / "a", n=12, seed=5, scan_share=0.0)
    b = generate_corpus(tmp_path / "b", n=12, seed=5, scan_share=0.0)
    c = generate_corpus(tmp_path / "c", n=12, seed=6, scan_share=0.0)
    assert a.labels_path.read_bytes() == b.labels_path.read_bytes()
    assert a.labels_path.read_bytes() != c.labels_path.read_bytes()
    pdf = sorted((tmp_path / "a" / "files").iterdir())[0]
    assert pdf.read_bytes() == (tmp_path / "b" / "files" / pdf.name).read_bytes()


def test_corpus_follows_the_contract_and_covers_six_types(tmp_path: Path) -> None:
    summary = generate_corpus(tmp_path, n=24, seed=1, scan_share=0.0)
    docs = read_labels(tmp_path)
    assert len(docs) == 24 and summary.n == 24
    assert len(summary.doc_types) >= 6 and len(summary.labels) >= 12
    for doc in docs[:6]:
        pages = extract_pages_from_bytes(doc.file.read_bytes())
        result = align_entities(pages.words, doc.entities)
        assert not result.unaligned, (doc.document_id, result.unaligned)
    scenario = json.loads((tmp_path / "scenario.json").read_text())
    assert scenario["scenario"] == "baseline"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_runs(name: str) -> None:
    scenario = SCENARIOS[name]
    assert scenario.kind in {"none", "data", "concept"} and scenario.description
    docs = list(iter_documents(14, seed=2, scenario=name, scan_share=0.0))
    types = {d.doc_type for d in docs}
    if name == "new_layout":
        assert {d.layout for d in docs if d.doc_type in {"invoice", "referral_letter"}} == {
            "compact"
        }
    if name == "scanner_noise":
        assert sum(d.is_scan for d in docs) >= 8
    if name == "type_split":
        assert "itemized_statement" in types
    else:
        assert "itemized_statement" not in types
    dates = [e.text for d in docs for e in d.entities if e.label == "date_of_birth"]
    if name == "day_first_dates":
        assert any(int(t.split("/")[0]) > 12 for t in dates)
    else:
        assert all(int(t.split("/")[0]) <= 12 for t in dates)
    members = [e.text for d in docs for e in d.entities if e.label == "member_id"]
    assert members
    pattern = r"M[A-Z]-\d{4}-\d{4}" if name == "new_member_id" else r"[A-Z]{3}\d{9}"
    assert all(re.fullmatch(pattern, m) for m in members)


def test_new_vocabulary_changes_titles() -> None:
    for scenario in ("baseline", "new_vocabulary"):
        for doc in iter_documents(12, seed=4, scenario=scenario, scan_share=0.0):
            text = " ".join(w.text for w in doc.words).lower()
            spec = DOC_TYPES[doc.doc_type]
            standard = any(t.lower() in text for t in spec.titles)
            alternate = any(t.lower() in text for t in spec.alt_titles)
            assert (standard, alternate) == (
                (True, False) if scenario == "baseline" else (False, True)
            ), (scenario, doc.document_id)


def test_unknown_scenario_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="valid scenarios: .*baseline"):
        generate_corpus(tmp_path, n=1, seed=0, scenario="nope")
