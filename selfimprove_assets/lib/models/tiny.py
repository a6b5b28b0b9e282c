"""A tiny backbone built from a corpus's own words, for ``demo --quick`` and the tests."""

from __future__ import annotations

from pathlib import Path


def tiny_backbone_for(folders: list[Path], target: Path) -> Path:
    """A tiny BERT whose vocabulary is the corpus words (``--quick`` and the tests).

    The architecture and code path are the production ones; only the backbone is small, so a
    whole loop runs in minutes on two cores.
    """
    from selfimprove_assets.lib.documents.labels import read_labels
    from selfimprove_assets.lib.documents.page_store import PageStore
    from selfimprove_assets.lib.models.backbone import save_tiny_backbone

    pages = PageStore(target.parent / "tiny-pages")
    words: set[str] = set()
    for folder in folders:
        for doc in read_labels(folder):
            _, page_words, _ = pages.extract_cached(doc.file)
            words.update(w.text.lower() for w in page_words.words)
            words.update(t.lower() for e in doc.entities for t in e.text.split())
    return save_tiny_backbone(target, sorted(words))
