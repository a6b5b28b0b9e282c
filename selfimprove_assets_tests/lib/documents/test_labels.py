"""Reading labels.jsonl leniently: bad records set aside with a reason, boxes a little off the
page clamped, symlinks inside the folder followed, path traversal refused."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from selfimprove_assets.lib.documents.labels import (
    BOX_TOLERANCE,
    CorpusError,
    LabeledDocument,
    read_labels,
    scan_labels,
    write_labels,
)
from selfimprove_assets.lib.types import Entity


def _record(doc_id: str, file: str, **extra: Any) -> dict[str, Any]:
    return {"document_id": doc_id, "file": file, "doc_type": "form", "entities": []} | extra


def _write(folder: Path, records: list[dict[str, Any] | str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    (folder / "labels.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _box(label: str, bbox: list[float]) -> dict[str, Any]:
    return {"label": label, "text": "x", "page": 0, "bbox": bbox}


def test_bad_records_are_set_aside_and_the_rest_kept(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("a.pdf", "b.pdf", "c.pdf", "d.pdf"):
        (corpus / name).write_bytes(b"%PDF-1.4")
    _write(
        corpus,
        [
            _record("good", "a.pdf"),
            _record("clamped", "b.pdf", entities=[_box("total", [990, -3, 1009.8, 12])]),
            _record("missing", "nowhere.pdf"),
            "{not json",
            _record("far_off", "c.pdf", entities=[_box("total", [10, 10, 1100, 20])]),
            _record("good", "d.pdf"),  # a repeated id: the first one is kept
            ["not", "an", "object"],  # type: ignore[list-item]
        ],
    )
    scan = scan_labels(corpus)
    assert [d.document_id for d in scan.documents] == ["good", "clamped"]
    assert scan.documents[0].file == corpus.resolve() / "a.pdf"
    [clamped] = scan.documents[1].entities
    assert clamped.bbox == (990, 0, 1000, 12)
    assert len(scan.warnings) == 1 and "1009.8" in scan.warnings[0]
    by_line = {p.line: p for p in scan.problems}
    assert sorted(by_line) == [3, 4, 5, 6, 7]
    assert by_line[3].document_id == "missing" and by_line[3].file == "nowhere.pdf"
    assert "'nowhere.pdf' does not exist" in by_line[3].reason
    assert "labels.jsonl:3:" in by_line[3].reason  # the reason names the file and line
    assert by_line[4].document_id is None and "not valid JSON" in by_line[4].reason
    assert by_line[5].document_id == "far_off" and "[10, 10, 1100, 20]" in by_line[5].reason
    assert "duplicate document_id 'good'" in by_line[6].reason
    assert "JSON object" in by_line[7].reason
    assert by_line[3].to_dict() == {
        "line": 3,
        "document_id": "missing",
        "file": "nowhere.pdf",
        "reason": by_line[3].reason,
    }


def test_clamping_stops_at_the_tolerance(tmp_path: Path) -> None:
    (tmp_path / "a.pdf").write_bytes(b"%PDF-1.4")
    edge = 1000 + BOX_TOLERANCE
    ok = [_box("x", [-BOX_TOLERANCE, 0, edge, 1000])]
    _write(tmp_path, [_record("d1", "a.pdf", entities=ok)])
    [doc] = read_labels(tmp_path)
    assert doc.entities[0].bbox == (0, 0, 1000, 1000)
    for bad in ([0, 0, edge + 0.5, 10], [-BOX_TOLERANCE - 1, 0, 10, 10], [0, 0, float("nan"), 1]):
        _write(tmp_path, [_record("d1", "a.pdf", entities=[_box("x", bad)])])
        with pytest.raises(CorpusError, match="bbox"):
            read_labels(tmp_path)
    # clamping must not turn an inverted box into a valid one
    _write(tmp_path, [_record("d1", "a.pdf", entities=[_box("x", [1005, 0, 1001, 10])])])
    assert scan_labels(tmp_path).problems


def test_strict_and_lenient_read_labels(tmp_path: Path) -> None:
    (tmp_path / "a.pdf").write_bytes(b"%PDF-1.4")
    _write(tmp_path, [_record("good", "a.pdf"), _record("missing", "gone.pdf")])
    with pytest.raises(CorpusError, match=r"(?s)1 problem\(s\) in .*gone\.pdf"):
        read_labels(tmp_path)  # strict by default: callers that need every record
    assert [d.document_id for d in read_labels(tmp_path, strict=False)] == ["good"]
    _write(tmp_path, [_record("missing", "gone.pdf")])
    with pytest.raises(CorpusError, match="no usable document"):
        read_labels(tmp_path, strict=False)
    (tmp_path / "labels.jsonl").unlink()
    with pytest.raises(CorpusError, match="no labels.jsonl"):
        scan_labels(tmp_path)


def test_symlinks_inside_the_folder_may_point_anywhere(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    (shared / "files").mkdir(parents=True)
    (shared / "files" / "a.pdf").write_bytes(b"%PDF-1.4 a")
    (shared / "files" / "b.pdf").write_bytes(b"%PDF-1.4 b")
    corpus = tmp_path / "corpus"
    (corpus / "files").mkdir(parents=True)
    os.symlink(shared / "files" / "a.pdf", corpus / "files" / "a.pdf")  # a linked file
    os.symlink(shared / "files", corpus / "linked")  # a linked folder
    os.symlink(shared / "files", corpus / "files" / "dir.pdf")  # a link to a folder
    os.symlink(shared / "files" / "gone.pdf", corpus / "files" / "broken.pdf")
    _write(
        corpus,
        [
            _record("a", "files/a.pdf"),
            _record("b", "linked/b.pdf"),
            _record("dir", "files/dir.pdf"),
            _record("broken", "files/broken.pdf"),
        ],
    )
    scan = scan_labels(corpus)
    assert [d.document_id for d in scan.documents] == ["a", "b"]
    # the path stays the one inside the corpus (the link), and it reads the target's bytes
    assert scan.documents[0].file == corpus.resolve() / "files" / "a.pdf"
    assert scan.documents[0].file.read_bytes() == b"%PDF-1.4 a"
    reasons = {p.document_id: p.reason for p in scan.problems}
    assert "is a symlink to" in reasons["dir"] and "not a file" in reasons["dir"]
    assert "broken symlink" in reasons["broken"]
    # written back, the files stay relative to the corpus folder
    out = write_labels(corpus, scan.documents)
    assert [json.loads(line)["file"] for line in out.read_text().splitlines()] == [
        "files/a.pdf",
        "linked/b.pdf",
    ]


def test_path_traversal_and_absolute_paths_stay_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.pdf"
    outside.write_bytes(b"%PDF-1.4")
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "a.pdf").write_bytes(b"%PDF-1.4")
    os.symlink(tmp_path, corpus / "up")
    _write(
        corpus,
        [
            _record("dotdot", "../outside.pdf"),
            _record("inner_dotdot", "sub/../a.pdf"),
            _record("link_dotdot", "up/../outside.pdf"),
            _record("absolute", str(outside)),
            _record("ok", "a.pdf"),
        ],
    )
    scan = scan_labels(corpus)
    assert [d.document_id for d in scan.documents] == ["ok"]
    reasons = {p.document_id: p.reason for p in scan.problems}
    for doc_id in ("dotdot", "inner_dotdot", "link_dotdot"):
        assert "points outside the corpus folder" in reasons[doc_id]
    assert "must be relative" in reasons["absolute"]


def _folder_with(tmp_path: Path, lines: list[str]) -> Path:
    (tmp_path / "a.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "labels.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_labels_round_trip(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.png").write_bytes(b"\x89PNG")
    docs = [
        LabeledDocument(
            "d1",
            tmp_path / "sub" / "x.png",
            "weird_type",
            [Entity("thing", "Foo Bar", 0, (1, 2, 3, 4)), Entity("other", "42", 1)],
        )
    ]
    write_labels(tmp_path, docs)
    record = json.loads((tmp_path / "labels.jsonl").read_text())
    assert record["file"] == "sub/x.png"
    assert "bbox" not in record["entities"][1]
    back = read_labels(tmp_path)
    assert back[0].document_id == "d1" and back[0].doc_type == "weird_type"
    assert back[0].file == (tmp_path / "sub" / "x.png").resolve()
    assert back[0].entities == docs[0].entities


def test_malformed_lines_are_reported_with_line_numbers(tmp_path: Path) -> None:
    good = {"document_id": "d1", "file": "a.pdf", "doc_type": "t", "entities": []}
    folder = _folder_with(
        tmp_path,
        [
            json.dumps(good),
            "{not json",
            json.dumps({**good, "document_id": "d2", "entities": [{"label": "x"}]}),
            "",
            json.dumps({**good, "document_id": "d3", "file": "../outside.pdf"}),
            json.dumps(
                {
                    **good,
                    "document_id": "d4",
                    "entities": [{"label": "x", "text": "y", "bbox": [5, 5, 1, 1]}],
                }
            ),
            json.dumps(good),
        ],
    )
    with pytest.raises(CorpusError) as info:
        read_labels(folder)
    message = str(info.value)
    assert "5 problem(s)" in message
    for line in (2, 3, 5, 6, 7):
        assert f"labels.jsonl:{line}:" in message
    assert "outside the corpus folder" in message and "duplicate document_id" in message
