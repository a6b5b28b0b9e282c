"""Model families: which architecture a backbone checkpoint becomes, chosen by its model_type.

A backbone is a local Hugging Face folder; ``config.model_type`` picks the family:

- ``bert``: BERT-family text encoders (bert, roberta, xlm-roberta). Their weights are copied
  into a LayoutLM (v1) model whose 2-D box embeddings start fresh (``backbone``). Our own input
  channels (word shapes, line boxes) belong to this family and to ``layoutlm``.
- ``layoutlm``: LayoutLM checkpoints, the same model with their pretrained 2-D embeddings.
- ``layoutlmv3``: text and layout; the visual patch embedding is left unused (no page image
  is passed: LayoutLMv3 runs text-and-layout only without ``pixel_values``).
- ``lilt``: LiLT, a text stream and a layout stream; LoRA goes on both streams' attention.
- ``bros``: BROS reads boxes normalised to 0-1 (the featurizer scales them); its sequence
  classifier is a head of ours on the pooled output (transformers has none).

Every family takes words and boxes 0-1000 from the featurizer and is called as
``model(input_ids, attention_mask, token_type_ids, bbox, labels)``. A bundle records its family
(``ModelSpec.family``); bundles written before families existed read as ``bert``. Warm starts
stay within a family: moving to another is a new V1 that meets the gauntlet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import (
    AutoConfig,
    BrosConfig,
    BrosForTokenClassification,
    BrosModel,
    BrosPreTrainedModel,
    LayoutLMv3ForSequenceClassification,
    LayoutLMv3ForTokenClassification,
    LiltForSequenceClassification,
    LiltForTokenClassification,
    PreTrainedModel,
)
from transformers.modeling_outputs import SequenceClassifierOutput

BERT, LAYOUTLM, LAYOUTLMV3, LILT, BROS = "bert", "layoutlm", "layoutlmv3", "lilt", "bros"
_ALL_LINEAR = (
    r".*encoder\.layer\.\d+\.(attention\.self\.({q})|attention\.({o})\.dense"
    r"|({i})\.dense|({out})\.dense)"
)


@dataclass(frozen=True)
class Family:
    """What differs between families; everything else in the loop is the same for all.

    ``int8`` is a measured fact: whether the int8 inference copy (dynamic quantization of the
    encoder's Linear layers) agrees with float32 on the family's tiny random checkpoint, the
    same argmax on every token of the test documents (``families_test``). Where it does not,
    serving on CPU stays float32.
    """

    name: str
    model_types: tuple[str, ...]
    prefix: str  # the encoder's attribute in the head model (``<prefix>.encoder``)
    lora_targets: dict[str, list[str] | str]
    box_scale: int = 1000  # the boxes' range the model reads: 1000 (integers) or 1 (floats)
    channels: bool = False  # our input channels (word shapes, line boxes) exist
    fresh_2d: bool = False  # 2-D embeddings start fresh (sinusoidal) and rebuild from code
    trains_2d: bool = False  # the 2-D embeddings are trained with ``train_2d_embeddings``
    pooler: bool = False  # a sequence head trains the pooler in full
    int8: bool = True

    @property
    def encoder(self) -> str:
        return f"{self.prefix}.encoder"


def _targets(
    q: str, o: str, i: str, out: str, query_value: list[str]
) -> dict[str, list[str] | str]:
    return {"query_value": query_value, "all_linear": _ALL_LINEAR.format(q=q, o=o, i=i, out=out)}


_BERT_TARGETS = _targets("query|key|value", "output", "intermediate", "output", ["query", "value"])

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            BERT,
            ("bert", "roberta", "xlm-roberta"),
            "layoutlm",
            _BERT_TARGETS,
            channels=True,
            fresh_2d=True,
            trains_2d=True,
            pooler=True,
        ),
        Family(
            LAYOUTLM,
            ("layoutlm",),
            "layoutlm",
            _BERT_TARGETS,
            channels=True,
            trains_2d=True,
            pooler=True,
        ),  # fmt: skip
        Family(LAYOUTLMV3, ("layoutlmv3",), "layoutlmv3", _BERT_TARGETS),
        Family(
            LILT,
            ("lilt",),
            "lilt",
            _targets(
                "query|key|value|layout_query|layout_key|layout_value",
                "output|layout_output",
                "intermediate|layout_intermediate",
                "output|layout_output",
                ["query", "value", "layout_query", "layout_value"],
            ),
        ),
        Family(BROS, ("bros",), "bros", _BERT_TARGETS, box_scale=1, pooler=True),
    )
}
ENCODER_PREFIXES: dict[str, Family] = {f.encoder: f for f in FAMILIES.values()}


def get_family(name: str) -> Family:
    if name not in FAMILIES:
        raise ValueError(f"unknown model family {name!r}; supported: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def checkpoint_model_type(backbone: str) -> str:
    """``model_type`` of a local checkpoint's config.json ('' when there is no local folder)."""
    config = Path(backbone) / "config.json"
    if not config.is_file():
        return ""
    return str(json.loads(config.read_text(encoding="utf-8")).get("model_type", ""))


def family_of_backbone(backbone: str) -> Family:
    """The family a backbone checkpoint belongs to, from its ``config.model_type``.

    A path without a local config (a hub id) is read through ``AutoConfig``; an unsupported
    ``model_type`` is one error naming the supported ones."""
    model_type = checkpoint_model_type(backbone)
    if not model_type:
        model_type = str(getattr(AutoConfig.from_pretrained(backbone), "model_type", ""))
    for family in FAMILIES.values():
        if model_type in family.model_types:
            return family
    supported = ", ".join(f"{f.name} ({'/'.join(f.model_types)})" for f in FAMILIES.values())
    raise ValueError(
        f"backbone {backbone!r} has model_type {model_type!r}, which no model family supports; "
        f"supported families (model types): {supported}"
    )


def family_of_module(model: nn.Module) -> Family | None:
    """The family of a built head model (merged or not), by where its encoder sits."""
    for name, _ in model.named_modules():
        for suffix, family in ENCODER_PREFIXES.items():
            if name == suffix or name.endswith(f".{suffix}"):
                return family
    return None


def check_same_family(parent: str, backbone: str) -> None:
    """A warm start continues its parent's family; another family needs a new V1.

    A backbone that is no local folder (a hub id) cannot be read offline and is not checked."""
    if not checkpoint_model_type(backbone):
        return
    wanted = family_of_backbone(backbone).name
    if wanted != parent:
        raise ValueError(
            f"a model of the {parent} family cannot be warm-started onto (or run on) a {wanted} "
            f"backbone ({backbone}): warm starts stay within a family; train a new V1 of the "
            f"{wanted} family and let it meet the gauntlet against the current default"
        )


class BrosForSequenceClassification(BrosPreTrainedModel):
    """BROS with a document head on its pooled output (transformers ships none)."""

    def __init__(self, config: BrosConfig) -> None:
        super().__init__(config)
        self.num_labels = int(config.num_labels or 2)
        self.bros = BrosModel(config)
        self.dropout = nn.Dropout(getattr(config, "classifier_dropout_prob", 0.1))
        self.classifier = nn.Linear(config.hidden_size, self.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        bbox: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **_: object,
    ) -> SequenceClassifierOutput:
        outputs = self.bros(
            input_ids=input_ids,
            bbox=bbox,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
        )
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))
        return SequenceClassifierOutput(loss=loss, logits=logits)


HEAD_CLASSES: dict[str, dict[str, type[PreTrainedModel]]] = {
    LAYOUTLMV3: {
        "token": LayoutLMv3ForTokenClassification,
        "sequence": LayoutLMv3ForSequenceClassification,
    },
    LILT: {"token": LiltForTokenClassification, "sequence": LiltForSequenceClassification},
    BROS: {"token": BrosForTokenClassification, "sequence": BrosForSequenceClassification},
}


def build_head_model(
    family: Family, kind: str, backbone: str, num_labels: int, *, load_weights: bool = True
) -> PreTrainedModel:
    """A token or sequence head model of a layout-pretrained family (not ``bert``/``layoutlm``,
    which ``backbone.build_layoutlm`` builds), over ``backbone``'s weights unless not
    ``load_weights`` (a full saved state follows)."""
    cls = HEAD_CLASSES[family.name][kind]
    if load_weights:
        model = cls.from_pretrained(backbone, num_labels=num_labels, dtype=torch.float32)
    else:
        model = cls(AutoConfig.from_pretrained(backbone, num_labels=num_labels))
    head = getattr(model, "classifier", None)
    if kind == "token" and not isinstance(head, nn.Linear):
        # LayoutLMv3 swaps its token head for an MLP at 10 labels; a warm start that grows the
        # labels past 9 must keep the parent's head, so the token head is always one Linear.
        linear = nn.Linear(model.config.hidden_size, num_labels)
        nn.init.normal_(linear.weight, std=model.config.initializer_range)
        nn.init.zeros_(linear.bias)
        model.classifier = linear
    return model
