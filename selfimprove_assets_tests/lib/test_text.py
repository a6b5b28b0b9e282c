"""One normalization for the whole project: scores and the live diff agree on equal values."""

from __future__ import annotations

from selfimprove_assets.lib import diff, metrics
from selfimprove_assets.lib.diff import diff_entities
from selfimprove_assets.lib.evaluation import scoring
from selfimprove_assets.lib.metrics import entity_report
from selfimprove_assets.lib.text import normalize_text
from selfimprove_assets.lib.types import Entity


def test_diff_scoring_and_metrics_share_one_normalize_text() -> None:
    assert diff.normalize_text is normalize_text
    assert metrics.normalize_text is normalize_text
    assert scoring.normalize_text is normalize_text


def test_a_value_the_diff_calls_unchanged_is_a_match_for_the_metrics() -> None:
    # "Smith," and "smith": the reviewer made no correction, so no score may count a miss
    predicted = [Entity("name", "Smith,", 0), Entity("date", "(12/03/2024).", 0)]
    labeled = [Entity("name", "smith", 0), Entity("date", "12/03/2024", 0)]
    counts = diff_entities(predicted, labeled).counts
    assert all(c["unchanged"] == 1 and c["modified"] == 0 for c in counts.values())
    report = entity_report([labeled], [predicted])
    assert report.micro.true_positives == 2 and report.micro.f1 == 1.0
    # inner punctuation is a different value for both
    other = [Entity("date", "1203/2024", 0)]
    assert diff_entities(other, [Entity("date", "12/03/2024", 0)]).counts["date"]["modified"] == 1
    assert entity_report([[Entity("date", "12/03/2024", 0)]], [other]).micro.true_positives == 0


def test_normalize_text_rule() -> None:
    assert normalize_text("  ＡＢＣ\n def ") == "abc def"  # width, case, whitespace
    assert normalize_text("  John   SMITH, ") == "john smith"
    assert normalize_text("¡Hola!") == "hola"
    assert normalize_text("$1,234.00") == "$1,234.00"  # a currency sign is not punctuation
    assert normalize_text("...") == ""


def test_spacing_around_punctuation_is_not_a_value() -> None:
    # scans and reviewers space punctuation inconsistently; the characters still decide
    assert normalize_text("312- 861- 2200") == normalize_text("312-861-2200")
    assert normalize_text("N /A") == normalize_text("n/a")
    assert normalize_text("R. G. Ryan") == normalize_text("R.G. Ryan")
    assert normalize_text("APR 4") != normalize_text("APR4")  # a space between words stays
    assert normalize_text("$135 00") != normalize_text("$135.00")
