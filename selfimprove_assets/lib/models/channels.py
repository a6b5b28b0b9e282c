"""Input channels beside the word box: the word's shape and its line's box.

Both are embedding lookups added to the token embeddings before LayoutLM's layer norm, like
its own 2-D box embeddings. They start at zero, so a model with a channel begins exactly as
one without and learns how much to use it. A model carries a channel when its spec says so
(``ModelSpec.word_shape`` / ``line_boxes``), a choice made for a V1 and kept by its warm
starts.

The channels ride in the ``bbox`` tensor, as columns after the word box (see
``featurizer.SHAPE_COLUMN`` and ``LINE_COLUMNS``): LayoutLM reads only the first four columns
of ``bbox``, so every caller that runs ``model(**batch)`` (training, the int8 inference copy,
LoRA or a full fine-tune) passes them through unchanged.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.models.layoutlm.modeling_layoutlm import LayoutLMEmbeddings

from selfimprove_assets.lib.models.featurizer import LINE_COLUMNS, SHAPE_COLUMN
from selfimprove_assets.lib.models.shapes import N_SHAPES

SHAPE_EMBEDDINGS = "shape_embeddings"
# Named so that none ends with one of the word box's names (PEFT matches modules by suffix).
LINE_EMBEDDINGS: tuple[str, ...] = (
    "line_x_embeddings",
    "line_y_embeddings",
    "line_h_embeddings",
    "line_w_embeddings",
)
CHANNEL_MODULES: tuple[str, ...] = (SHAPE_EMBEDDINGS, *LINE_EMBEDDINGS)


def channel_modules(*, word_shape: bool, line_boxes: bool) -> list[str]:
    """The new embedding modules a model with these channels has (trained in full)."""
    return [SHAPE_EMBEDDINGS] * word_shape + list(LINE_EMBEDDINGS) * line_boxes


def _zero_embedding(rows: int, dim: int) -> nn.Embedding:
    table = nn.Embedding(rows, dim)
    nn.init.zeros_(table.weight)
    return table


class ChannelEmbeddings(LayoutLMEmbeddings):
    """LayoutLM's embeddings plus the shape and line-box channels.

    It takes over the submodules of the embeddings it replaces, so their parameters keep their
    names (``layoutlm.embeddings.word_embeddings`` ...), and adds the channels' tables.
    """

    def __init__(self, base: LayoutLMEmbeddings, *, word_shape: bool, line_boxes: bool) -> None:
        nn.Module.__init__(self)
        self._modules.update(base._modules)
        self._buffers.update(base._buffers)
        self._non_persistent_buffers_set.update(base._non_persistent_buffers_set)
        dim = base.word_embeddings.embedding_dim
        rows = base.x_position_embeddings.num_embeddings
        self.word_shape = word_shape
        self.line_boxes = line_boxes
        if word_shape:
            self.shape_embeddings = _zero_embedding(N_SHAPES, dim)
        if line_boxes:
            for name in LINE_EMBEDDINGS:
                setattr(self, name, _zero_embedding(rows, dim))

    def channels(self, bbox: torch.Tensor) -> torch.Tensor:
        """The channels' embeddings per token, from the columns after the word box."""
        needed = LINE_COLUMNS.stop if self.line_boxes else SHAPE_COLUMN + 1
        if bbox.shape[-1] < needed:
            wanted = " and ".join(
                n for n, on in (("word shapes", self.word_shape), ("line boxes", self.line_boxes))
                if on
            )  # fmt: skip
            raise ValueError(
                f"this model reads {wanted} as bbox columns 4-{needed - 1}, but the batch has "
                f"{bbox.shape[-1]} columns: build its windows with the bundle's featurizer"
            )
        total = torch.zeros((), device=bbox.device)
        if self.word_shape:
            total = total + self.get_submodule(SHAPE_EMBEDDINGS)(bbox[..., SHAPE_COLUMN])
        if self.line_boxes:
            x0, y0, x1, y1 = (bbox[..., c] for c in range(LINE_COLUMNS.start, LINE_COLUMNS.stop))
            x, y, h, w = (self.get_submodule(name) for name in LINE_EMBEDDINGS)
            total = total + x(x0) + x(x1) + y(y0) + y(y1)
            total = total + h((y1 - y0).clamp(min=0)) + w((x1 - x0).clamp(min=0))
        return total

    def forward(  # type: ignore[override]
        self,
        input_ids: torch.Tensor | None = None,
        bbox: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if bbox is None:
            raise ValueError("a model with input channels needs the bbox tensor")
        if inputs_embeds is not None:
            tokens: torch.Tensor = inputs_embeds
        elif input_ids is not None:
            tokens = self.word_embeddings(input_ids)
        else:
            raise ValueError("give input_ids or inputs_embeds")
        return super().forward(
            input_ids=None,
            bbox=bbox[..., :4],
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=tokens + self.channels(bbox),
        )


def install_channels(model: nn.Module, *, word_shape: bool, line_boxes: bool) -> nn.Module:
    """Give a LayoutLM head model the channels (in place; a no-op when both are off)."""
    if not (word_shape or line_boxes):
        return model
    layoutlm = model.get_submodule("layoutlm")
    base = layoutlm.embeddings
    if not isinstance(base, LayoutLMEmbeddings) or isinstance(base, ChannelEmbeddings):
        raise TypeError(f"cannot add input channels to {type(base).__name__}")
    layoutlm.embeddings = ChannelEmbeddings(base, word_shape=word_shape, line_boxes=line_boxes)
    return model
