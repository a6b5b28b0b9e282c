"""The one text normalization of the project: how two entity values are compared.

Scoring (golden set, production slice, ``selfimprove evaluate``), training validation and the
reviewer diff behind the live counters all compare a predicted value with a labeled or verified
one through :func:`normalize_text`, so an offline score and a live accuracy never disagree
about whether two values are the same.
"""

from __future__ import annotations

import re
import unicodedata

_WHITESPACE = re.compile(r"\s+")
# a space with punctuation on either side: "312- 861- 2200", "N /A", "R. G. Ryan"
_SPACE_BY_PUNCT = re.compile(r"(?<=[^\w\s]) | (?=[^\w\s])")


def _is_punct(char: str) -> bool:
    return unicodedata.category(char).startswith("P")


def normalize_text(text: str) -> str:
    """Normalize an entity value so cosmetic differences do not count as different values.

    NFKC folds compatibility forms (full-width digits, ligatures), ``casefold`` ignores case,
    whitespace runs collapse to one space, spaces beside punctuation go ("312- 861- 2200" ==
    "312-861-2200", "R. G. Ryan" == "R.G. Ryan": scans and reviewers space punctuation
    inconsistently), and punctuation at either end is stripped ("Smith," == "smith"). Inner
    punctuation is kept: "12/03" and "1203" are different values, and so are "APR 4" and "APR4".
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    spaced = _SPACE_BY_PUNCT.sub("", _WHITESPACE.sub(" ", folded).strip())
    value = unicodedata.normalize("NFKC", spaced)  # a mark that lost its space composes again
    start, end = 0, len(value)
    while start < end and (_is_punct(value[start]) or value[start].isspace()):
        start += 1
    while end > start and (_is_punct(value[end - 1]) or value[end - 1].isspace()):
        end -= 1
    return value[start:end]
