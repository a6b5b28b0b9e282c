"""Drift scenarios for the synthetic corpus, switchable by name.

Data drift changes what documents look like while the meaning of every label stays put; concept
drift changes what a correct answer is (a new date convention, a new ID scheme, a new type).
Each scenario is plain data that the generator reads, so the demo can print what changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # "none", "data" or "concept"
    description: str
    layout_override: dict[str, str] = field(default_factory=dict)
    min_scan_share: float = 0.0
    noise_level: float = 1.0
    vocabulary: str = "standard"
    date_format: str = "month_first"
    member_id_scheme: str = "classic"
    split_types: dict[str, str] = field(default_factory=dict)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("baseline", "none", "No drift: the documents the first model is trained on."),
        Scenario(
            "new_layout",
            "data",
            "Referral letters and invoices arrive in a new landscape layout with values above "
            "their captions.",
            layout_override={"referral_letter": "compact", "invoice": "compact"},
        ),
        Scenario(
            "scanner_noise",
            "data",
            "Most documents now arrive as skewed, noisy scans without a text layer.",
            min_scan_share=0.8,
            noise_level=2.0,
        ),
        Scenario(
            "new_vocabulary",
            "data",
            "Titles and field captions use different wording (synonyms, other phrasing).",
            vocabulary="alternate",
        ),
        Scenario(
            "day_first_dates",
            "concept",
            "Dates are written day first (DD/MM/YYYY) instead of month first.",
            date_format="day_first",
        ),
        Scenario(
            "new_member_id",
            "concept",
            "Insurers switched to a new member ID scheme (prefix, dashes and digit groups).",
            member_id_scheme="segmented",
        ),
        Scenario(
            "type_split",
            "concept",
            "Invoices are split into two types: invoice and itemized_statement.",
            split_types={"invoice": "itemized_statement"},
        ),
    )
}


def get_scenario(name: str) -> Scenario:
    """Look a scenario up by name; an unknown name lists the valid ones."""
    try:
        return SCENARIOS[name]
    except KeyError:
        valid = ", ".join(sorted(SCENARIOS))
        raise ValueError(f"unknown scenario {name!r}; valid scenarios: {valid}") from None
