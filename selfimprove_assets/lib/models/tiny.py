"""A tiny backbone built from a corpus's own words, for ``demo --quick`` and the tests."""

from __future__ import annotations

from pathlib import Path


def tiny_backbone_for(folders: list[Path], target: Path) -> Path:
    """A tiny BERT whose vocabulary is the corpus words (``--quick`` and the tests).

    The architecture and code path are the production ones; only the backbone is small, so a
    whole loop runs in minutes on two cores.
    """
    from selfimprove_assets.lib.documents.corpus_pages import CorpusPages
    from selfimprove_assets.lib.documents.given_words import GivenWordsError
    from selfimprove_assets.lib.documents.labels import read_labels
    from selfimprove_assets.lib.documents.page_store import PageStore
    from selfimprove_assets.lib.documents.pages import DocumentError
    from selfimprove_assets.lib.models.backbone import save_tiny_backbone

    store = PageStore(target.parent / "tiny-pages")
    words: set[str] = set()
    for folder in folders:
        docs = read_labels(folder)
        pages = CorpusPages.open(store, folder, [d.document_id for d in docs])
        for doc in docs:
            try:
                _, page_words, _ = pages.pages_of(doc.document_id, doc.file)
            except (GivenWordsError, DocumentError):  # ingestion quarantines it: no words
                continue
            words.update(w.text.lower() for w in page_words.words)
            words.update(t.lower() for e in doc.entities for t in e.text.split())
    return save_tiny_backbone(target, sorted(words))
