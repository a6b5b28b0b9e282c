"""A tiny backbone built from a corpus's own words, for ``demo --quick`` and the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def tiny_backbone_for(folders: list[Path], target: Path) -> Path:
    """A tiny BERT whose vocabulary is the corpus words (``--quick`` and the tests).

    The architecture and code path are the production ones; only the backbone is small, so a
    whole loop runs in minutes on two cores.
    """
    from selfimprove_assets.lib.documents.corpus_pages import CorpusPages
    from selfimprove_assets.lib.documents.given_words import GivenWordsError
    from selfimprove_assets.lib.documents.labels import read_labels
    from selfimprove_assets.lib.documents.page_store import PageStore
    from selfimprove_assets.lib.documents.pages import DocumentError
    from selfimprove_assets.lib.models.backbone import save_tiny_backbone

    store = PageStore(target.parent / "tiny-pages")
    words: set[str] = set()
    for folder in folders:
        docs = read_labels(folder)
        pages = CorpusPages.open(store, folder, [d.document_id for d in docs])
        for doc in docs:
            try:
                _, page_words, _ = pages.pages_of(doc.document_id, doc.file)
            except (GivenWordsError, DocumentError):  # ingestion quarantines it: no words
                continue
            words.update(w.text.lower() for w in page_words.words)
            words.update(t.lower() for e in doc.entities for t in e.text.split())
    return save_tiny_backbone(target, sorted(words))


# The checkpoint model types ``save_tiny_checkpoint`` writes, one per family (and RoBERTa, the
# byte-level BPE member of the BERT family).
TINY_MODEL_TYPES: tuple[str, ...] = ("bert", "roberta", "layoutlm", "layoutlmv3", "lilt", "bros")
_BPE_TYPES = ("roberta", "layoutlmv3", "lilt")


def _save_bpe_tokenizer(directory: Path, words: list[str]) -> int:
    """A byte-level BPE tokenizer (RoBERTa's) whose merges spell the given words; its size."""
    from tokenizers import pre_tokenizers
    from transformers import RobertaTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = ["<s>", "<pad>", "</s>", "<unk>", "<mask>", *alphabet]
    merges: list[tuple[str, str]] = []
    splitter = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    for word in sorted({w for text in words for w in text.split() if w}):
        symbols = splitter.pre_tokenize_str(" " + word)[0][0]
        token = symbols[0]
        for char in symbols[1:]:
            merges.append((token, char))
            token += char
            vocab.append(token)
    ids = {t: i for i, t in enumerate(dict.fromkeys(vocab))}
    tokenizer = RobertaTokenizerFast(
        vocab=ids,
        merges=list(dict.fromkeys(merges)),  # type: ignore[arg-type]  # pairs, as BPE takes
        add_prefix_space=True,
    )
    tokenizer.save_pretrained(str(directory))
    return len(ids)


# Base sizes (BERT-base/RoBERTa-base geometry) for benchmarks with random weights.
BASE_SIZES: dict[str, Any] = dict(
    hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072
)


def save_tiny_checkpoint(
    directory: str | Path,
    vocab_words: list[str],
    model_type: str,
    *,
    seed: int = 0,
    base_size: bool = False,
) -> Path:
    """A tiny random checkpoint of ``model_type`` (``TINY_MODEL_TYPES``) and its tokenizer.

    Written from the family's config the way a team's real checkpoint folder looks (a base
    model and a tokenizer, LayoutLMv3's declaring its own tokenizer class), so tests run each
    family's production path offline. ``base_size``: the base geometry (768 wide, 12
    layers), random weights, for timing what a family costs.
    """
    import json

    import torch
    import transformers as tf

    from selfimprove_assets.lib.models.backbone import save_tiny_backbone

    if model_type not in TINY_MODEL_TYPES:
        raise ValueError(f"no tiny {model_type!r} checkpoint; known: {TINY_MODEL_TYPES}")
    directory = Path(directory)
    if model_type == "bert" and not base_size:
        return save_tiny_backbone(directory, vocab_words, seed=seed)
    directory.mkdir(parents=True, exist_ok=True)
    if model_type in _BPE_TYPES:
        vocab_size = _save_bpe_tokenizer(directory, vocab_words)
    else:  # LayoutLM and BROS checkpoints use BERT's WordPiece tokenizer
        save_tiny_backbone(directory, vocab_words, seed=seed)
        vocab_size = len((directory / "vocab.txt").read_text(encoding="utf-8").splitlines())
    sizes: dict[str, Any] = dict(
        vocab_size=vocab_size, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    bpe: dict[str, Any] = dict(
        pad_token_id=1, bos_token_id=0, eos_token_id=2, max_position_embeddings=514
    )
    configs = {
        "roberta": lambda: tf.RobertaConfig(hidden_size=32, type_vocab_size=1, **bpe, **sizes),
        "layoutlm": lambda: tf.LayoutLMConfig(hidden_size=32, max_position_embeddings=512, **sizes),
        "layoutlmv3": lambda: tf.LayoutLMv3Config(
            hidden_size=64,
            coordinate_size=10,
            shape_size=12,
            input_size=32,
            patch_size=16,
            type_vocab_size=1,
            **bpe,
            **sizes,
        ),  # fmt: skip
        "lilt": lambda: tf.LiltConfig(
            hidden_size=48, channel_shrink_ratio=4, type_vocab_size=1, **bpe, **sizes
        ),
        "bros": lambda: tf.BrosConfig(hidden_size=64, max_position_embeddings=512, **sizes),
    }
    models = {
        "roberta": tf.RobertaModel,
        "layoutlm": tf.LayoutLMModel,
        "layoutlmv3": tf.LayoutLMv3Model,
        "lilt": tf.LiltModel,
        "bros": tf.BrosModel,
    }
    configs["bert"] = lambda: tf.BertConfig(**sizes)
    models["bert"] = tf.BertModel
    torch.manual_seed(seed)
    config = configs[model_type]()
    if base_size:
        for key, value in BASE_SIZES.items():
            setattr(config, key, value)
        if model_type == "layoutlmv3":
            config.coordinate_size = config.shape_size = 128
    models[model_type](config).save_pretrained(str(directory))
    if model_type == "layoutlmv3":  # as microsoft/layoutlmv3-base declares it
        path = directory / "tokenizer_config.json"
        config = json.loads(path.read_text(encoding="utf-8"))
        path.write_text(
            json.dumps({**config, "tokenizer_class": "LayoutLMv3Tokenizer"}), encoding="utf-8"
        )
    return directory
