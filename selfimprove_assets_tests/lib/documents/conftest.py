"""Shared small corpora for the document tests (generated once per session)."""

from __future__ import annotations

import pytest

from selfimprove_assets.lib.documents.synth import SynthDocument, iter_documents


@pytest.fixture(scope="session")
def text_docs() -> list[SynthDocument]:
    return list(iter_documents(12, seed=11, scan_share=0.0))


@pytest.fixture(scope="session")
def scan_docs() -> list[SynthDocument]:
    return list(iter_documents(3, seed=7, scan_share=1.0))
