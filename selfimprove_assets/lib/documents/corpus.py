"""The corpus build: golden and training splits (``splits.json`` or stratified by type), and
aligned words packaged as training examples.

The labels contract itself is in ``labels``; placing entities on words in ``alignment``.
"""

from __future__ import annotations

import json
import logging
import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from selfimprove_assets.lib.defaults import CorpusSettings
from selfimprove_assets.lib.documents.labels import SPLITS_FILE, CorpusError
from selfimprove_assets.lib.types import PageWords, TrainingExample

logger = logging.getLogger(__name__)


def read_splits(folder: Path) -> dict[str, list[str]] | None:
    """Read ``splits.json`` if the folder has one; None when it does not."""
    path = Path(folder) / SPLITS_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k, []), list) and all(isinstance(i, str) for i in data.get(k, []))
        for k in ("train", "test")
    ):
        raise CorpusError(f'{path}: expected {{"train": [ids], "test": [ids]}}')
    return {"train": list(data.get("train", [])), "test": list(data.get("test", []))}


def split_corpus(
    ids: Sequence[str],
    doc_types: Sequence[str],
    test_fraction: float = CorpusSettings().test_fraction,
    seed: int = CorpusSettings().seed,
    splits: dict[str, list[str]] | None = None,
) -> tuple[list[str], list[str]]:
    """Split ids into (train, test), stratified by type, or as ``splits`` says when given.

    With ``splits``, ids it does not mention go to train (logged); ids it names that are not
    in the corpus, or that it puts on both sides, are errors.
    """
    if len(ids) != len(doc_types):
        raise ValueError(f"{len(ids)} ids but {len(doc_types)} doc types")
    if splits is not None:
        train, test = set(splits.get("train", [])), set(splits.get("test", []))
        if both := sorted(train & test):
            raise CorpusError(f"splits.json puts {len(both)} id(s) in train and test: {both[:5]}")
        if unknown := sorted((train | test) - set(ids)):
            raise CorpusError(f"splits.json names {len(unknown)} unknown id(s): {unknown[:5]}")
        unassigned = [i for i in ids if i not in train and i not in test]
        if unassigned:
            logger.warning("%d id(s) not in splits.json go to train", len(unassigned))
        return [i for i in ids if i not in test], [i for i in ids if i in test]
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    by_type: dict[str, list[str]] = defaultdict(list)
    for doc_id, doc_type in zip(ids, doc_types, strict=True):
        by_type[doc_type].append(doc_id)
    rng = random.Random(seed)
    test_ids: set[str] = set()
    for doc_type in sorted(by_type):
        members = sorted(by_type[doc_type])
        rng.shuffle(members)
        n_test = round(len(members) * test_fraction)
        if test_fraction > 0 and len(members) >= 2:
            n_test = min(max(n_test, 1), len(members) - 1)
        test_ids.update(members[:n_test])
    return [i for i in ids if i not in test_ids], [i for i in ids if i in test_ids]


def to_training_example(
    document_id: str,
    doc_type: str,
    page_words: PageWords,
    tags: Sequence[str],
    source: str = "train",
) -> TrainingExample:
    """Package aligned words for the featurizer; the tags must be one per word."""
    if len(tags) != len(page_words.words):
        raise ValueError(f"{document_id}: {len(tags)} tags for {len(page_words.words)} words")
    return TrainingExample(
        document_id=document_id,
        doc_type=doc_type,
        words=[w.text for w in page_words.words],
        boxes=[w.bbox for w in page_words.words],
        pages=[w.page for w in page_words.words],
        word_tags=list(tags),
        source=source,
    )
