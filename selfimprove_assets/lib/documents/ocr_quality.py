"""How much of a page's labeled text the extracted words hold: OCR word recall.

The labeled entity texts and the extracted words are both split on whitespace and normalized
(``normalize_token``: case-folded, letters and digits only; tokens that normalize to nothing
are dropped). Recall is the size of the multiset intersection over the number of labeled
tokens, so a word labeled twice must be read twice, and reading a word twice earns it once per
label. Reading order and boxes play no part: this measures the reader, not the alignment.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from selfimprove_assets.lib.documents.alignment import normalize_token
from selfimprove_assets.lib.types import Word


def normalized_tokens(texts: Iterable[str]) -> Counter[str]:
    """The multiset of normalized whitespace-separated tokens of ``texts``."""
    tokens: Counter[str] = Counter()
    for text in texts:
        for piece in text.split():
            token = normalize_token(piece)
            if token:
                tokens[token] += 1
    return tokens


def word_recall(labeled_texts: Iterable[str], words: Iterable[Word | str]) -> tuple[int, int]:
    """(labeled tokens found among ``words``, labeled tokens) for one document.

    ``words`` are extracted words (``Word`` or plain strings). Sum both numbers over documents
    for a corpus-level recall; a document without labeled text gives (0, 0).
    """
    labeled = normalized_tokens(labeled_texts)
    found = normalized_tokens(w.text if isinstance(w, Word) else w for w in words)
    matched = sum((labeled & found).values())
    return matched, sum(labeled.values())


def recall_ratio(matched: int, total: int) -> float:
    """``matched / total``, or 1.0 when there was nothing to find."""
    return matched / total if total else 1.0
