"""Uploads that bring their own OCR: the ``words`` part is what the models predict on and what
the page words are; bad words are a 422 that stores nothing; an export carries the words and
reads back to them."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from selfimprove_assets.lib.documents.pages import extract_pages
from selfimprove_assets.lib.types import PageWords, Word
from selfimprove_assets_tests.api.conftest import REVIEWER, ApiFactory, ApiHarness


def _blank_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (320, 400), 255).save(buffer, format="PNG")
    return buffer.getvalue()


def _words_of(api: ApiHarness, index: int = 0) -> list[Word]:
    """A synthetic document's words: text the tiny models know, on no blank page."""
    return extract_pages(api.models.files[index]).words


def _part(words: list[Word]) -> str:
    pages: dict[int, list[dict[str, Any]]] = {}
    for w in words:
        pages.setdefault(w.page, []).append({"text": w.text, "bbox": list(w.bbox)})
    return json.dumps([{"page": p, "words": ws} for p, ws in pages.items()])


def _post(api: ApiHarness, data: bytes, words: str | None = None) -> Any:
    return api.client.post(
        "/v1/documents",
        files={"file": ("scan.png", data, "image/png")},
        data={"words": words} if words is not None else None,
        headers=REVIEWER,
    )


def _spans(entities: list[Any]) -> list[tuple[str, str, int, tuple[int, ...]]]:
    get = lambda e, k: e[k] if isinstance(e, dict) else getattr(e, k)  # noqa: E731
    return [
        (get(e, "label"), get(e, "text"), get(e, "page"), tuple(get(e, "bbox"))) for e in entities
    ]


def test_an_upload_with_given_words_is_predicted_on_them(make_api: ApiFactory) -> None:
    api = make_api()
    words = [w for w in _words_of(api) if w.page == 0]
    blank = _blank_png()
    response = _post(api, blank, _part(words))
    assert response.status_code == 201, response.text
    body = response.json()
    expected = api.provider.predict(PageWords(words, page_count=1), snapshot=api.provider.current())
    assert expected.entities, "the tiny extractor predicts entities on these words"
    assert body["prediction"]["doc_type"] == expected.doc_type
    assert _spans(body["prediction"]["entities"]) == _spans(expected.entities)
    doc_id = body["id"]
    stored = api.client.get(f"/v1/documents/{doc_id}/pages/0/words", headers=REVIEWER).json()
    assert [(w["text"], tuple(w["bbox"])) for w in stored["words"]] == [
        (w.text, w.bbox) for w in words
    ]
    assert api.client.get(f"/v1/documents/{doc_id}", headers=REVIEWER).json()["ocr_pages"] == []

    # The same file without words is read (OCR of a blank page: nothing), and each upload
    # keeps its own words.
    plain = _post(api, blank)
    assert plain.status_code == 201, plain.text
    assert plain.json()["prediction"]["entities"] == []
    ocr_words = api.client.get(
        f"/v1/documents/{plain.json()['id']}/pages/0/words", headers=REVIEWER
    )
    assert ocr_words.json()["words"] == []
    again = api.client.get(f"/v1/documents/{doc_id}/pages/0/words", headers=REVIEWER).json()
    assert again == stored


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ("[{not json", "words: not valid JSON"),
        ('{"page": 0, "words": []}', "expected a JSON list of pages"),
        ('[{"page": 1, "words": [{"text": "a", "bbox": [0, 0, 9, 9]}]}]', "words for page 1 but"),
        ('[{"page": 0, "words": [{"text": "", "bbox": [0, 0, 9, 9]}]}]', "non-empty string"),
        ('[{"page": 0, "words": [{"text": "a", "bbox": [0, 0, 1900, 9]}]}]', "within 0-1000"),
    ],
)
def test_bad_words_are_a_422_that_stores_nothing(
    make_api: ApiFactory, words: str, message: str
) -> None:
    api = make_api()
    response = _post(api, _blank_png(), words)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_words" and message in error["message"]
    assert api.store.documents.count_documents() == 0
    assert not [p for p in api.settings.blobs_dir.rglob("*") if p.is_file()]
    assert not list(api.settings.pages_dir.rglob("*.parquet"))


def test_a_words_part_over_the_form_limit_is_refused_and_stores_nothing(
    make_api: ApiFactory,
) -> None:
    api = make_api()
    word = {"text": "word", "bbox": [0, 0, 9, 9]}
    huge = json.dumps([{"page": 0, "words": [word] * 40_000}])  # ~1.4 MB
    response = _post(api, _blank_png(), huge)
    assert response.status_code == 400, response.text
    assert api.store.documents.count_documents() == 0


def test_export_carries_the_words_and_reads_back_to_them(
    make_api: ApiFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selfimprove_assets.cli import app
    from selfimprove_assets.lib.documents.page_store import PageStore
    from selfimprove_assets.lib.feedback.examples import feedback_examples
    from selfimprove_assets.lib.models.dataset import read_dataset

    api = make_api()
    given = [Word(w.text, w.bbox, w.page) for w in _words_of(api, 1) if w.page == 0]
    ids = {}
    for name, response in (
        ("given", _post(api, _blank_png(), _part(given))),
        ("read", api.upload(api.models.files[2])),
    ):
        assert response.status_code == 201, response.text
        body = response.json()
        ids[name] = body["id"]
        review = {
            "doc_type": body["prediction"]["doc_type"],
            "entities": [
                {k: e[k] for k in ("label", "text", "page", "bbox")}
                for e in body["prediction"]["entities"]
            ],
        }
        saved = api.client.put(f"/v1/documents/{body['id']}/review", json=review, headers=REVIEWER)
        assert saved.status_code == 200, saved.text
    commit = api.client.post(
        "/v1/commits", json={"document_ids": list(ids.values())}, headers=REVIEWER
    )
    assert commit.json()["committed"] == 2

    monkeypatch.setenv("SELFIMPROVE_HOME", str(api.settings.home))
    monkeypatch.setenv("SELFIMPROVE_DATABASE_URL", api.settings.database_url)
    runner = CliRunner()
    out = tmp_path / "export"
    result = runner.invoke(app, ["export", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["documents_with_words"] == 2
    stored = {
        name: [
            (w["text"], tuple(w["bbox"]))
            for w in api.client.get(
                f"/v1/documents/{doc_id}/pages/0/words", headers=REVIEWER
            ).json()["words"]
        ]
        for name, doc_id in ids.items()
    }
    assert stored["given"] == [(w.text, w.bbox) for w in given]
    # retraining learns from the words the document was reviewed on
    examples, skipped = feedback_examples(
        api.store, PageStore(api.settings.pages_dir), [{"document_id": ids["given"]}], source="f"
    )
    assert skipped == []
    assert list(zip(examples[0].words, map(tuple, examples[0].boxes), strict=True)) == [
        (w.text, w.bbox) for w in given
    ]

    monkeypatch.setenv("SELFIMPROVE_HOME", str(tmp_path / "fresh"))
    monkeypatch.delenv("SELFIMPROVE_DATABASE_URL")
    ingested = runner.invoke(app, ["ingest", str(out), "--json"])
    assert ingested.exit_code == 0, ingested.output
    assert json.loads(ingested.stdout)["quarantined"] == []
    corpus = {
        e.document_id: e
        for e in read_dataset(tmp_path / "fresh" / "corpus_build" / "labeled_corpus.parquet")
    }
    for name, doc_id in ids.items():
        example = corpus[doc_id]
        assert list(zip(example.words, map(tuple, example.boxes), strict=True)) == stored[name]
        document = api.store.documents.get_document(doc_id)
        verified = document["feedback"]["extractor"]["verified"]["entities"]
        assert _spans(example.entities or []) == _spans(verified)


def test_the_simulated_reviewer_uploads_a_documents_given_words(
    make_api: ApiFactory, tmp_path: Path
) -> None:
    from selfimprove_assets.lib.documents.given_words import GivenWords
    from selfimprove_assets.lib.documents.labels import LabeledDocument
    from selfimprove_assets.lib.simulation import ReviewerSimulator
    from selfimprove_assets_tests.api.conftest import REVIEWER_TOKEN

    api = make_api()
    scan = tmp_path / "scan.png"
    scan.write_bytes(_blank_png())
    words = [w for w in _words_of(api) if w.page == 0]
    doc = LabeledDocument("d1", scan, api.models.doc_types[0])
    sim = ReviewerSimulator(
        "http://testserver",
        REVIEWER_TOKEN,
        client=api.client,  # type: ignore[arg-type]  # TestClient is an httpx.Client in-process
        words={"d1": GivenWords("d1", {0: words})},
    )
    assert sim.review_batch([doc])["committed"] == 1
    (stored,) = api.store.documents.list_documents(limit=1)[1]
    page = api.client.get(f"/v1/documents/{stored['id']}/pages/0/words", headers=REVIEWER).json()
    assert [(w["text"], tuple(w["bbox"])) for w in page["words"]] == [
        (w.text, w.bbox) for w in words
    ]
