"""A word's shape: what a lowercasing tokenizer throws away, as one small class id.

The class combines the word's form (case, digits, amount, date, punctuation) with whether it
ends with a colon (a form's "Name:", a receipt's "TOTAL:"), so ``DATE:`` and ``Date`` differ.
Id 0 is kept for tokens that are no word ([CLS], [SEP], padding).
"""

from __future__ import annotations

import re

NO_WORD = 0
FORMS = (
    "lower",  # letters, all lower case
    "title",  # an upper-case letter, then lower case
    "caps",  # two or more letters, all upper case
    "mixed",  # letters in any other case pattern
    "number",  # digits only
    "amount",  # a number with a currency sign, a sign, thousands or decimals: $1,234.50
    "date",  # 12/03/2024, 2024-01-02, 3.4.21
    "alphanumeric",  # letters and digits: A12, 3rd, x9
    "punctuation",  # no letter or digit
    "other",  # letters mixed with symbols: e-mail, O'Neil's, c/o
)
N_SHAPES = 1 + 2 * len(FORMS)  # no-word, then each form without and with a trailing colon

_DATE = re.compile(r"\d{1,4}[/.\-]\d{1,2}[/.\-]\d{1,4}")
_AMOUNT = re.compile(r"[-+(]?[$€£¥]?[-+]?(\d{1,3}([,.' ]\d{3})+|\d+)([.,]\d{1,2})?[)%]?[$€£¥]?")
_LETTERS = re.compile(r"[^\W\d_]+", re.UNICODE)
_WORDISH = re.compile(r"[^\W\d_]+([-'.][^\W\d_]+)*\.?", re.UNICODE)


def word_form(core: str) -> str:
    """The form of a word without its trailing colon (one of ``FORMS``)."""
    has_digit = any(c.isdigit() for c in core)
    has_alpha = any(c.isalpha() for c in core)
    if not has_digit and not has_alpha:
        return "punctuation"
    if core.isdigit():
        return "number"
    if has_digit and not has_alpha:
        if _DATE.fullmatch(core):
            return "date"
        if _AMOUNT.fullmatch(core):
            return "amount"
        return "other"
    if has_digit:
        return "alphanumeric"
    if _LETTERS.fullmatch(core) is None and _WORDISH.fullmatch(core) is None:
        return "other"
    letters = "".join(c for c in core if c.isalpha())
    if letters.islower():
        return "lower"
    if len(letters) >= 2 and letters.isupper():
        return "caps"
    if letters[0].isupper() and (len(letters) == 1 or letters[1:].islower()):
        return "title"
    return "mixed"


def word_shape(text: str) -> int:
    """The shape id of a word, in ``1 .. N_SHAPES - 1``."""
    colon = len(text) > 1 and text.endswith(":")
    core = text[:-1] if colon else text
    return 1 + FORMS.index(word_form(core)) + (len(FORMS) if colon else 0)
