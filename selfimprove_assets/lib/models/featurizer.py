"""Words with boxes -> token windows a LayoutLM model can read, and back.

Every subword token inherits the box of its word. Documents longer than ``max_length`` tokens
are cut into overlapping windows (``stride`` tokens of overlap, windows start on a word
boundary) and each window keeps ``word_ids`` so predictions can be mapped back to words. The
same code serves training, evaluation and serving, so they cannot drift apart; it also
computes the optional input channels (word shapes, line boxes) that ride beside the boxes.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from selfimprove_assets.lib.models.layout import (
    GIVEN,
    XYCUT,
    check_reading_order,
    line_boxes,
    xycut_order,
)
from selfimprove_assets.lib.models.shapes import NO_WORD, word_shape
from selfimprove_assets.lib.types import BBox, PageWords, TrainingExample

IGNORE_INDEX = -100
CLS_BOX: BBox = (0, 0, 0, 0)
SEP_BOX: BBox = (1000, 1000, 1000, 1000)
PAD_BOX: BBox = (0, 0, 0, 0)
# The input channels ride in ``bbox`` after the word box (LayoutLM reads columns 0-3 only):
# column 4 the word's shape id, columns 5-8 its line box (see ``channels``).
SHAPE_COLUMN = 4
LINE_COLUMNS = slice(5, 9)
CHANNEL_WIDTH = 9
# The box ranges a model may read: integers 0-1000 (LayoutLM, LayoutLMv3, LiLT) or 0-1 (BROS).
BOX_SCALES = (1000, 1)


@dataclass
class Window:
    """One model input: a slice of a document's tokens with their boxes.

    ``word_ids`` holds, per token, the index of the document word it came from (``None`` for
    ``[CLS]``/``[SEP]``); ``first_subword`` marks the token that carries the word's prediction.
    ``shape_ids`` and ``line_bbox`` (per token, like ``bbox``) are there when the featurizer
    computes the word-shape and line-box channels.
    """

    doc_index: int
    input_ids: list[int]
    bbox: list[BBox]
    word_ids: list[int | None]
    first_subword: list[bool]
    labels: list[int] | None = None
    doc_label: int | None = None
    shape_ids: list[int] | None = None
    line_bbox: list[BBox] | None = None

    def __len__(self) -> int:
        return len(self.input_ids)


def clamp_box(box: Sequence[int], *, where: str = "box") -> BBox:
    """A box inside 0-1000 with x0<=x1 and y0<=y1 (LayoutLM's embeddings index by coordinate)."""
    if len(box) != 4:
        raise ValueError(f"{where}: expected 4 coordinates (x0, y0, x1, y1), got {list(box)!r}")
    x0, y0, x1, y1 = (min(1000, max(0, int(v))) for v in box)
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def continuation_tag(tag: str) -> str:
    """The tag a non-first subword gets when all subwords are labeled (B-X -> I-X)."""
    return f"I-{tag[2:]}" if tag.startswith("B-") else tag


def _token_id(tokenizer: PreTrainedTokenizerBase, attribute: str) -> int:
    value = getattr(tokenizer, attribute, None)
    if not isinstance(value, int):
        raise ValueError(f"the tokenizer has no {attribute}; a BERT-style tokenizer is needed")
    return value


class Featurizer:
    """Turns documents into windows for one tokenizer and window geometry."""

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        *,
        max_length: int = 512,
        stride: int = 64,
        label_all_subwords: bool = False,
        word_shape: bool = False,
        line_boxes: bool = False,
        reading_order: str = GIVEN,
        box_scale: int = 1000,
    ) -> None:
        if not tokenizer.is_fast:
            raise ValueError("the featurizer needs a fast tokenizer (for word_ids)")
        if getattr(tokenizer, "add_prefix_space", None) is False:
            raise ValueError(
                "a byte-level BPE tokenizer must add a prefix space to pre-split words (load it "
                "with backbone.load_tokenizer)"
            )
        if box_scale not in BOX_SCALES:
            raise ValueError(f"box_scale must be one of {BOX_SCALES}, got {box_scale}")
        if max_length < 8:
            raise ValueError(f"max_length must be at least 8 tokens, got {max_length}")
        if not 0 <= stride < max_length - 2:
            raise ValueError(f"stride must be in [0, max_length - 2), got {stride}")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.stride = stride
        self.label_all_subwords = label_all_subwords
        self.word_shape = word_shape
        self.line_boxes = line_boxes
        self.reading_order = check_reading_order(reading_order)
        self.box_scale = box_scale
        self.cls_id = _token_id(tokenizer, "cls_token_id")
        self.sep_id = _token_id(tokenizer, "sep_token_id")
        self.pad_id = _token_id(tokenizer, "pad_token_id")

    def _tokenize(self, words: Sequence[str]) -> tuple[list[int], list[int]]:
        if not words:
            return [], []
        encoding = self.tokenizer(
            list(words),
            is_split_into_words=True,
            add_special_tokens=False,
            truncation=False,
            padding=False,
            verbose=False,
        )
        raw_ids: list[int] = encoding["input_ids"]  # type: ignore[assignment]
        ids = [int(i) for i in raw_ids]
        word_ids = [int(w) for w in encoding.word_ids() if w is not None]
        return ids, word_ids

    def word_order(self, boxes: Sequence[BBox], pages: Sequence[int]) -> list[int] | None:
        """The word indices in the order the model reads them; None: as given."""
        return xycut_order(boxes, pages) if self.reading_order == XYCUT else None

    def window_spans(self, token_word_ids: Sequence[int]) -> list[tuple[int, int]]:
        """Token ranges [start, end) of the windows; each window starts on a word's first token."""
        n = len(token_word_ids)
        size = self.max_length - 2
        if n <= size:
            return [(0, n)]
        spans: list[tuple[int, int]] = []
        start = 0
        while True:
            end = min(start + size, n)
            spans.append((start, end))
            if end == n:
                return spans
            nxt = end - self.stride
            while nxt > start + 1 and token_word_ids[nxt - 1] == token_word_ids[nxt]:
                nxt -= 1
            start = max(nxt, start + 1)

    def windows(
        self,
        words: Sequence[str],
        boxes: Sequence[Sequence[int]],
        *,
        doc_index: int = 0,
        word_tags: Sequence[str] | None = None,
        label2id: dict[str, int] | None = None,
        doc_label: int | None = None,
        pages: Sequence[int] | None = None,
    ) -> list[Window]:
        """All windows of one document (token labels when ``word_tags`` and ``label2id`` given).

        ``pages`` (the page of each word; all on one page when omitted) keeps lines and the
        reading order on their page. Tokens follow ``reading_order``; ``word_ids`` are the
        indices of ``words`` as given, so predictions map back to them."""
        if len(boxes) != len(words):
            raise ValueError(f"document {doc_index}: {len(words)} words but {len(boxes)} boxes")
        if pages is not None and len(pages) != len(words):
            raise ValueError(f"document {doc_index}: {len(words)} words but {len(pages)} pages")
        if word_tags is not None and len(word_tags) != len(words):
            raise ValueError(f"document {doc_index}: {len(words)} words but {len(word_tags)} tags")
        clamped = [
            clamp_box(b, where=f"document {doc_index} word {i}") for i, b in enumerate(boxes)
        ]
        page_of = list(pages) if pages is not None else [0] * len(words)
        order = self.word_order(clamped, page_of)
        read = order if order is not None else list(range(len(words)))
        shapes = [word_shape(w) for w in words] if self.word_shape else None
        lines: list[BBox] | None = None
        if self.line_boxes:  # lines follow the reading order
            lines = list(clamped)
            in_order = line_boxes([clamped[i] for i in read], [page_of[i] for i in read])
            for i, box in zip(read, in_order, strict=True):
                lines[i] = box
        # tokens come in reading order; word_ids keep the words' own indices
        ids, word_of = self._tokenize([words[i] for i in read])
        word_of = [read[j] for j in word_of]
        first = [i == 0 or word_of[i - 1] != word_of[i] for i in range(len(ids))]
        token_labels: list[int] | None = None
        if word_tags is not None:
            if label2id is None:
                raise ValueError("label2id is required with word_tags")
            token_labels = []
            for i, w in enumerate(word_of):
                tag = word_tags[w]
                if not first[i]:
                    if not self.label_all_subwords:
                        token_labels.append(IGNORE_INDEX)
                        continue
                    tag = continuation_tag(tag)
                if tag not in label2id:
                    raise ValueError(f"document {doc_index}: tag {tag!r} is not a known label")
                token_labels.append(label2id[tag])
        out: list[Window] = []
        for start, end in self.window_spans(word_of):
            out.append(
                Window(
                    doc_index=doc_index,
                    input_ids=[self.cls_id, *ids[start:end], self.sep_id],
                    bbox=[CLS_BOX, *(clamped[w] for w in word_of[start:end]), SEP_BOX],
                    word_ids=[None, *word_of[start:end], None],
                    first_subword=[False, *first[start:end], False],
                    labels=None
                    if token_labels is None
                    else [IGNORE_INDEX, *token_labels[start:end], IGNORE_INDEX],
                    doc_label=doc_label,
                    shape_ids=None
                    if shapes is None
                    else [NO_WORD, *(shapes[w] for w in word_of[start:end]), NO_WORD],
                    line_bbox=None
                    if lines is None
                    else [CLS_BOX, *(lines[w] for w in word_of[start:end]), SEP_BOX],
                )
            )
        return out

    def example_windows(
        self,
        example: TrainingExample,
        doc_index: int,
        *,
        label2id: dict[str, int] | None = None,
        type2id: dict[str, int] | None = None,
    ) -> list[Window]:
        """Windows of a labeled example, for the extractor (label2id) or classifier (type2id)."""
        doc_label = None
        if type2id is not None:
            if example.doc_type not in type2id:
                raise ValueError(
                    f"document {example.document_id}: unknown type {example.doc_type!r}"
                )
            doc_label = type2id[example.doc_type]
        return self.windows(
            example.words,
            example.boxes,
            doc_index=doc_index,
            word_tags=example.word_tags if label2id is not None else None,
            label2id=label2id,
            doc_label=doc_label,
            pages=example.pages,
        )

    def page_windows(self, document: PageWords, doc_index: int) -> list[Window]:
        return self.windows(
            [w.text for w in document.words],
            [w.bbox for w in document.words],
            doc_index=doc_index,
            pages=[w.page for w in document.words],
        )

    def page_order(self, document: PageWords) -> list[int] | None:
        """The order the model reads ``document``'s words in (None: as given)."""
        if self.reading_order == GIVEN:
            return None
        boxes = [clamp_box(w.bbox, where=f"word {i}") for i, w in enumerate(document.words)]
        return self.word_order(boxes, [w.page for w in document.words])

    def collate(self, windows: Sequence[Window]) -> dict[str, torch.Tensor]:
        """Pad a batch to its longest window (dynamic padding)."""
        return collate(windows, self.pad_id, box_scale=self.box_scale)


def collate(
    windows: Sequence[Window], pad_id: int, *, box_scale: int = 1000
) -> dict[str, torch.Tensor]:
    """Tensors for a batch, padded to the longest window; labels when the windows carry them.

    Boxes are integers 0-1000 (``box_scale`` 1000) or, for models that read them normalised
    (BROS), floats 0-1 (``box_scale`` 1)."""
    if not windows:
        raise ValueError("cannot collate an empty batch")
    width = max(len(w) for w in windows)
    input_ids = torch.full((len(windows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(windows), width), dtype=torch.long)
    channels = any(w.shape_ids is not None or w.line_bbox is not None for w in windows)
    bbox = torch.zeros((len(windows), width, CHANNEL_WIDTH if channels else 4), dtype=torch.long)
    for row, w in enumerate(windows):
        n = len(w)
        input_ids[row, :n] = torch.tensor(w.input_ids, dtype=torch.long)
        attention[row, :n] = 1
        bbox[row, :n, :4] = torch.tensor(w.bbox, dtype=torch.long)
        if w.shape_ids is not None:
            bbox[row, :n, SHAPE_COLUMN] = torch.tensor(w.shape_ids, dtype=torch.long)
        if w.line_bbox is not None:
            bbox[row, :n, LINE_COLUMNS] = torch.tensor(w.line_bbox, dtype=torch.long)
    batch = {
        "input_ids": input_ids,
        "attention_mask": attention,
        "token_type_ids": torch.zeros_like(input_ids),
        "bbox": bbox if box_scale == 1000 else bbox.float() * (box_scale / 1000),
    }
    if all(w.labels is not None for w in windows):
        labels = torch.full((len(windows), width), IGNORE_INDEX, dtype=torch.long)
        for row, w in enumerate(windows):
            labels[row, : len(w)] = torch.tensor(w.labels, dtype=torch.long)
        batch["labels"] = labels
    elif all(w.doc_label is not None for w in windows):
        batch["labels"] = torch.tensor([w.doc_label for w in windows], dtype=torch.long)
    return batch


def length_batches(
    windows: Sequence[Window], batch_size: int, *, seed: int | None = None
) -> list[list[int]]:
    """Indices grouped into batches of similar length, so padding is small.

    With a ``seed`` the batch order (not the grouping) is shuffled, for training.
    """
    order = sorted(range(len(windows)), key=lambda i: len(windows[i]))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if seed is not None:
        random.Random(seed).shuffle(batches)
    return batches
