"""Synthetic healthcare intake documents with exact labels, and named drift scenarios."""

from selfimprove_assets.lib.documents.synth.generator import (
    CorpusSummary,
    SynthDocument,
    generate_corpus,
    iter_documents,
)
from selfimprove_assets.lib.documents.synth.scenarios import SCENARIOS, Scenario, get_scenario

__all__ = [
    "SCENARIOS",
    "CorpusSummary",
    "Scenario",
    "SynthDocument",
    "generate_corpus",
    "get_scenario",
    "iter_documents",
]
