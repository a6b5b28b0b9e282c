"""CLI failures: one ``error:`` line naming the problem and the input, a non-zero exit code, no
traceback (``-v`` shows it); ingest quarantines bad documents and keeps the rest."""

from __future__ import annotations

import io
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas
from typer.testing import CliRunner

from selfimprove_assets.cli import app, errors

WORDS = {
    "one": ["Invoice", "Total", "42.00"],
    "two": ["Invoice", "Total", "17.50"],
    "three": ["Receipt", "Total", "99.99"],
    "four": ["Receipt", "Total", "12.34"],
}


def _pdf(path: Path, words: list[str]) -> None:
    """A one-page PDF with a text layer (no OCR needed): one word per line."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=True)
    canvas.setFont("Helvetica", 14)
    for i, word in enumerate(words):
        canvas.drawString(72, 760 - 30 * i, word)
    canvas.showPage()
    canvas.save()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())


def _record(doc_id: str, file: str, total_box: list[float] | None = None) -> dict[str, Any]:
    entity: dict[str, Any] = {"label": "total", "text": WORDS[doc_id][2], "page": 0}
    if total_box is not None:
        entity["bbox"] = total_box
    return {
        "document_id": doc_id,
        "file": file,
        "doc_type": "invoice" if WORDS[doc_id][0] == "Invoice" else "receipt",
        "entities": [entity],
    }


def _labels(folder: Path, records: list[dict[str, Any]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(r) + "\n" for r in records)
    (folder / "labels.jsonl").write_text(lines, encoding="utf-8")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SELFIMPROVE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    return tmp_path / "home"


@pytest.fixture
def runner() -> Iterator[CliRunner]:
    yield CliRunner()


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def _assert_one_error(result: Any, *expected: str) -> str:
    assert result.exit_code == 1, (result.exit_code, result.output)
    [line] = _error_lines(result.stderr)
    for text in expected:
        assert text in line, line
    assert "Traceback" not in result.output and "Stack Trace" not in result.output
    assert len(result.stderr.splitlines()) <= 5, result.stderr  # no log or trace dump
    return line


def test_ingest_quarantines_bad_documents_and_ingests_the_rest(
    tmp_path: Path, home: Path, runner: CliRunner
) -> None:
    corpus = tmp_path / "corpus"
    _pdf(corpus / "files" / "one.pdf", WORDS["one"])
    _pdf(corpus / "files" / "two.pdf", WORDS["two"])
    # a symlink inside the corpus to a file in a shared dataset folder elsewhere
    _pdf(tmp_path / "shared" / "three.pdf", WORDS["three"])
    os.symlink(tmp_path / "shared" / "three.pdf", corpus / "files" / "three.pdf")
    _labels(
        corpus,
        [
            _record("one", "files/one.pdf"),
            # the reported case: a box a little past the page edge is clamped, not rejected
            _record("two", "files/two.pdf", total_box=[80, 50, 1009.8, 130]),
            _record("three", "files/three.pdf"),
            _record("four", "files/four.pdf"),  # no such file: quarantined
        ],
    )
    result = runner.invoke(app, ["ingest", str(corpus), "--json"])
    assert result.exit_code == 0, result.output
    assert not _error_lines(result.stderr)
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["source_documents"]["documents"] == 3
    assert summary["source_documents"]["quarantined"] == 1
    assert summary["source_documents"]["boxes_clamped"] == 1
    assert summary["labeled_corpus"]["documents"] == 3
    [bad] = summary["quarantined"]
    assert bad["document_id"] == "four" and bad["file"] == "files/four.pdf"
    assert "'files/four.pdf' does not exist" in bad["reason"]
    quarantine = home / "corpus_build" / "quarantine.jsonl"
    assert [json.loads(line)["document_id"] for line in quarantine.read_text().splitlines()] == [
        "four"
    ]
    assert "quarantined" in result.stderr and "clamped" in result.stderr  # said as it happens
    # the table form names the quarantined document and where the list is
    table = runner.invoke(app, ["ingest", str(corpus)])
    assert table.exit_code == 0, table.output
    assert "four" in table.stdout and str(quarantine) in table.stdout


def test_ingest_with_no_usable_document_fails_in_one_line(
    tmp_path: Path, home: Path, runner: CliRunner
) -> None:
    corpus = tmp_path / "corpus"
    _pdf(tmp_path / "outside.pdf", WORDS["one"])
    _labels(
        corpus,
        [_record("one", "../outside.pdf"), _record("two", "files/two.pdf")],
    )
    result = runner.invoke(app, ["ingest", str(corpus)])
    line = _assert_one_error(
        result, "ingest failed", "no usable document", str(corpus / "labels.jsonl")
    )
    assert "points outside the corpus folder" in line and "'files/two.pdf' does not exist" in line
    verbose = runner.invoke(app, ["-v", "ingest", str(corpus)])
    assert verbose.exit_code == 1
    assert "Traceback (most recent call last)" in verbose.stderr
    assert len(_error_lines(verbose.stderr)) == 1


def test_obvious_failures_name_their_input(tmp_path: Path, home: Path, runner: CliRunner) -> None:
    missing = tmp_path / "nowhere"
    _assert_one_error(runner.invoke(app, ["ingest", str(missing)]), str(missing), "not exist")
    (tmp_path / "empty").mkdir()
    _assert_one_error(runner.invoke(app, ["ingest", str(tmp_path / "empty")]), "labels.jsonl")
    _assert_one_error(runner.invoke(app, ["train-baseline", "--model-type", "tagger"]), "'tagger'")
    _assert_one_error(
        runner.invoke(app, ["train-baseline"]), "no ingested corpus", str(home), "ingest"
    )
    _assert_one_error(runner.invoke(app, ["rollback", "classifier"]), "no default classifier")
    (tmp_path / "a-file").write_text("x")
    _assert_one_error(
        runner.invoke(app, ["generate-corpus", str(tmp_path / "a-file")]), "is not a folder"
    )
    usage = runner.invoke(app, ["ingest", "--no-such-option", str(missing)])
    assert usage.exit_code == 2  # usage errors stay Typer's


def test_unreachable_services_fail_at_once(
    tmp_path: Path, home: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SELFIMPROVE_DATABASE_URL", "postgresql+psycopg://me:s3cret@127.0.0.1:9/db")
    line = _assert_one_error(runner.invoke(app, ["status"]), "127.0.0.1:9/db", "feedback store")
    assert "s3cret" not in line
    monkeypatch.delenv("SELFIMPROVE_DATABASE_URL")
    monkeypatch.setenv("SELFIMPROVE_MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    _assert_one_error(runner.invoke(app, ["rollback", "extractor"]), "http://127.0.0.1:9")
    corpus = tmp_path / "corpus"
    _pdf(corpus / "one.pdf", WORDS["one"])
    _labels(corpus, [_record("one", "one.pdf")])
    _assert_one_error(
        runner.invoke(
            app,
            ["simulate", "--api", "http://127.0.0.1:9", "--corpus", str(corpus), "--token", "t"],
        ),
        "API at http://127.0.0.1:9",
    )


def test_a_dagster_failure_is_unwrapped_to_the_asset_s_own_error() -> None:
    @dg.asset
    def reads_a_file() -> None:
        raise ValueError("/data/corpus/x.pdf: not a PDF")

    with pytest.raises(ValueError) as info:
        dg.materialize([reads_a_file], raise_on_error=True)
    cause, step = errors.user_facing(info.value)
    assert step == "reads_a_file"
    assert errors.error_message(cause) == "/data/corpus/x.pdf: not a PDF"
    failure = dg.Failure(description="V1 learnt nothing\nsee the run")
    assert errors.error_message(failure) == "V1 learnt nothing; see the run"
    assert errors.error_message(FileNotFoundError(2, "No such file", "/x")).startswith(
        "FileNotFoundError: [Errno 2] No such file"
    )


def test_sigterm_stops_a_command_with_one_line(
    tmp_path: Path, home: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selfimprove_assets.lib.documents import synth

    def terminated(*_args: object, **_kwargs: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # delivered before the next bytecode runs
        raise AssertionError("SIGTERM did not stop the command")

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(synth, "generate_corpus", terminated)
    result = runner.invoke(app, ["generate-corpus", str(tmp_path / "out")])
    assert result.exit_code == 143, result.output
    assert _error_lines(result.stderr) == ["error: generate-corpus interrupted (SIGTERM)"]
    assert signal.getsignal(signal.SIGTERM) == before  # handlers restored afterwards
