"""What a model is besides its tensors: type, labels, backbone, window and LoRA settings.

``ModelSpec`` is stored as JSON in every bundle (``artifacts``) and is enough to rebuild the
model around the stored weights; ``backbone_fingerprint`` notices a backbone path that now
points at another model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from peft import LoraConfig

from selfimprove_assets.lib.kinds import kind_of
from selfimprove_assets.lib.models.backbone import NEW_2D_EMBEDDINGS
from selfimprove_assets.lib.models.channels import channel_modules
from selfimprove_assets.lib.models.decoding import SPANS, check_decoder
from selfimprove_assets.lib.models.families import BERT, Family, get_family
from selfimprove_assets.lib.models.layout import GIVEN, check_reading_order

# 2: the decoding and input-channel fields below ``format_version``; a format-1 bundle lacks
# them and reads as their defaults (what it was trained and served with).
FORMAT_VERSION = 2
# LoRA placements by name (a list of module names, or a regex over full module paths). The
# regex keeps LoRA off the pooler, which a sequence classifier trains in full.
LORA_LAYERS: dict[str, list[str] | str] = {
    "query_value": ["query", "value"],
    "all_linear": (
        r".*encoder\.layer\.\d+\.(attention\.self\.(query|key|value)|attention\.output\.dense"
        r"|intermediate\.dense|output\.dense)"
    ),
}


def backbone_fingerprint(backbone: str) -> str:
    """A short hash of the backbone's config.json, to notice a moved path pointing elsewhere."""
    config = Path(backbone) / "config.json"
    if not config.is_file():
        return ""
    data = json.loads(config.read_text(encoding="utf-8"))
    keep = {
        k: data.get(k) for k in ("hidden_size", "num_hidden_layers", "vocab_size", "model_type")
    }
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class ModelSpec:
    """Everything besides tensors needed to rebuild a model; stored as JSON in the bundle."""

    model_type: str
    labels: list[str]
    backbone: str
    max_length: int = 512
    stride: int = 64
    label_all_subwords: bool = False
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    full_finetune: bool = False
    # Which backbone layers carry LoRA: "query_value" (attention queries and values only) or
    # "all_linear" (every linear layer of the encoder: attention and feed-forward). Older
    # bundles lack the key and were trained with "query_value".
    lora_layers: str = "query_value"
    # Whether the new 2-D box embeddings are trained (stored in the adapter) or stay at their
    # deterministic sinusoidal start, which every load rebuilds from code.
    train_2d_embeddings: bool = True
    temperature: float = 1.0
    # The registered model (``models:/<name>/<version>``) whose full fine-tuned weights this
    # adapter sits on; empty when it sits on the backbone. A warm start from a full fine-tune
    # stays adapter-sized: the parent's weights are stored once, in the parent's version.
    base_model: str = ""
    backbone_fingerprint: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    # How an extractor turns word tag probabilities into entities: "spans" (span voting) or
    # "viterbi" (the best valid BIO path); see ``extractor``. Bundles of format 1 used "spans".
    decoder: str = SPANS
    # Labels kept at most once per document (the most confident entity), learnt from the
    # training data; None: no such rule (format 1), which warm starts keep.
    single_value_labels: list[str] | None = None
    # Input channels beside the word box (``channels``): each word's shape class and its text
    # line's box. A channel is chosen for a V1 and kept by its warm starts; format 1 had none.
    word_shape: bool = False
    line_boxes: bool = False
    # The order the model reads a page's words in: "given" (as extracted) or "xycut" (see
    # ``layout``), the same in training, evaluation and serving; format 1 read them as given.
    reading_order: str = GIVEN
    # The model family the backbone belongs to (``families``), set from the checkpoint when a
    # V1 is built; bundles written before families existed are BERT-family LayoutLM models.
    family: str = BERT
    # Straight-through processing (``lib.automation``), fitted on the run's held-out data:
    # the entity confidence calibrator (None: raw confidence, as before), the cut-offs by field
    # ("doc_type" or an entity label; a field without one accepts nothing, and a version
    # registered before them has none), the labels each document type must show, and the
    # calibration report (ECE, reliability table, the target the cut-offs were chosen for).
    calibration: dict[str, Any] | None = None
    cutoffs: dict[str, float] = field(default_factory=dict)
    required_labels: dict[str, list[str]] = field(default_factory=dict)
    automation_report: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        get_family(self.family)  # raises naming the supported families
        if self.lora_layers not in LORA_LAYERS:
            raise ValueError(
                f"lora_layers must be one of {sorted(LORA_LAYERS)}, got {self.lora_layers!r}"
            )
        kind_of(self.model_type)  # raises on an unknown type
        check_decoder(self.decoder)
        check_reading_order(self.reading_order)
        if len(set(self.labels)) != len(self.labels) or not self.labels:
            raise ValueError(f"labels must be a non-empty list of unique names: {self.labels!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "model spec") -> ModelSpec:
        """A spec read from a bundle's JSON: keys it lacks take their defaults (older formats),
        keys this code does not know (a newer format) are one clear error."""
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(
                f"{where} has fields this version cannot read: {', '.join(unknown)} (format "
                f"{data.get('format_version')}; this version reads up to {FORMAT_VERSION})"
            )
        return cls(**data)

    @property
    def head_kind(self) -> str:
        return kind_of(self.model_type).head

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    @property
    def model_family(self) -> Family:
        return get_family(self.family)

    def modules_to_save(self) -> list[str]:
        """Trained in full next to the LoRA matrices: head (and pooler), the 2-D box
        embeddings when ``train_2d_embeddings`` (families whose 2-D embeddings are theirs to
        train), and the input channels' embeddings."""
        family = self.model_family
        trains_2d = self.train_2d_embeddings and family.trains_2d
        names = ["classifier", *(NEW_2D_EMBEDDINGS if trains_2d else ())]
        names += channel_modules(word_shape=self.word_shape, line_boxes=self.line_boxes)
        return names + (["pooler"] if self.head_kind == "sequence" and family.pooler else [])

    def lora_config(self) -> LoraConfig:
        targets = self.model_family.lora_targets
        return LoraConfig(
            r=self.lora_r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=targets.get(self.lora_layers, LORA_LAYERS[self.lora_layers]),
            modules_to_save=self.modules_to_save(),
        )
