"""A trained model as a small bundle: LoRA adapter + heads + label map + tokenizer + spec.

The backbone is named by path (and fingerprinted) and rebuilt at load time. A LoRA bundle is
therefore a few MB; a full fine-tune (the extractor's V1) stores every weight once, in its own
version. A child version starts exactly where its parent stopped (warm start), with new labels
appended to the head, and is always an adapter: on the backbone, or on the full fine-tune it
continues (``ModelSpec.base_model`` names that version; the registry loads it underneath).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import torch
from peft import (
    PeftModel,
    get_peft_model,
    get_peft_model_state_dict,
    set_peft_model_state_dict,
)
from safetensors.torch import load_file, save_file
from transformers import PreTrainedTokenizerBase

from selfimprove_assets.lib.models.backbone import (
    NEW_2D_EMBEDDINGS,
    build_layoutlm,
    load_tokenizer,
)
from selfimprove_assets.lib.models.channels import install_channels
from selfimprove_assets.lib.models.device import autocast, module_device, to_device
from selfimprove_assets.lib.models.families import (
    build_head_model,
    check_same_family,
    family_of_backbone,
)
from selfimprove_assets.lib.models.featurizer import Featurizer, Window, length_batches
from selfimprove_assets.lib.models.inference import token_batches
from selfimprove_assets.lib.models.spec import FORMAT_VERSION, ModelSpec, backbone_fingerprint

logger = logging.getLogger(__name__)

SPEC_FILE = "selfimprove_model.json"
ADAPTER_FILE = "adapter_model.safetensors"
FULL_FILE = "model.safetensors"
TOKENIZER_DIR = "tokenizer"


def is_head_key(key: str) -> bool:
    """Whether a tensor belongs to the head, whose label rows grow in a warm start."""
    return key.startswith("classifier.") or ".classifier." in key


def freeze_fixed_embeddings(model: torch.nn.Module, spec: ModelSpec) -> None:
    """In a full fine-tune, keep the 2-D box embeddings at their sinusoidal start unless
    ``train_2d_embeddings`` (LoRA models leave them out of ``modules_to_save`` instead)."""
    if spec.train_2d_embeddings or not spec.model_family.trains_2d:
        return
    for name, param in model.named_parameters():
        if any(f"{embedding}." in name for embedding in NEW_2D_EMBEDDINGS):
            param.requires_grad_(False)


def base_model(spec: ModelSpec, *, load_weights: bool = True) -> torch.nn.Module:
    """The head model of ``spec``'s family before LoRA: backbone weights (or random ones to be
    overwritten when ``load_weights`` is False), with the spec's input channels."""
    family = spec.model_family
    if family.prefix != "layoutlm":
        return build_head_model(
            family, spec.head_kind, spec.backbone, len(spec.labels), load_weights=load_weights
        )
    model = build_layoutlm(
        spec.head_kind, spec.backbone, len(spec.labels), load_weights=load_weights
    )
    return install_channels(model, word_shape=spec.word_shape, line_boxes=spec.line_boxes)


def family_spec(spec: ModelSpec) -> ModelSpec:
    """``spec`` for a V1 on its backbone: the checkpoint's family and fingerprint recorded, our
    input channels only where the family has them."""
    family = family_of_backbone(spec.backbone)
    channels = family.channels
    return replace(
        spec,
        family=family.name,
        backbone_fingerprint=backbone_fingerprint(spec.backbone),
        word_shape=spec.word_shape and channels,
        line_boxes=spec.line_boxes and channels,
    )


def _adapter_model(spec: ModelSpec, base_state: dict[str, torch.Tensor] | None) -> PeftModel:
    """A LoRA model for ``spec`` over the backbone, or over full fine-tuned weights.

    ``base_state`` is a full state dict (a full fine-tune's); its head rows are copied and, when
    ``spec`` has more labels, new rows keep their fresh initialisation."""
    if base_state is None:
        base = base_model(spec)
    else:
        base = base_model(spec, load_weights=False)
        own = base.state_dict()
        state = dict(base_state)
        for key, value in base_state.items():
            if key in own and own[key].shape != value.shape and is_head_key(key):
                grown = own[key].clone()
                grown[: value.shape[0]] = value
                state[key] = grown
        base.load_state_dict(state)
    return get_peft_model(base, spec.lora_config())  # type: ignore[return-value]


def resolve_backbone(
    spec_backbone: str, override: str | None = None, model_type: str = "extractor"
) -> str:
    """The backbone path to load: an explicit override, the recorded path, or the settings'.

    A bundle records the absolute backbone path of the machine that trained it. When that path
    does not exist here (another machine, a moved virtualenv) the configured backbone is used.
    """
    if override:
        return override
    recorded = Path(spec_backbone)
    if recorded.exists() or not recorded.is_absolute():
        return spec_backbone
    from selfimprove_assets.lib.settings import load_settings

    configured = load_settings().backbone_for(model_type)
    logger.warning("backbone %s not found here; using configured %s", spec_backbone, configured)
    return configured


class ModelBundle:
    """A model ready to train or predict: the torch module, its tokenizer and its spec."""

    def __init__(
        self, spec: ModelSpec, model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase
    ) -> None:
        self.spec = spec
        self.model = model
        self.tokenizer = tokenizer
        # The full weights under the adapter (spec.base_model), kept to warm-start children.
        self.base_state: dict[str, torch.Tensor] | None = None
        # Where this bundle is registered (``models:/name/version``), set by the registry.
        self.source_uri: str | None = None
        self.featurizer = Featurizer(
            tokenizer,
            max_length=spec.max_length,
            stride=spec.stride,
            label_all_subwords=spec.label_all_subwords,
            word_shape=spec.word_shape,
            line_boxes=spec.line_boxes,
            reading_order=spec.reading_order,
            box_scale=spec.model_family.box_scale,
        )

    @property
    def model_type(self) -> str:
        return self.spec.model_type

    @classmethod
    def from_backbone(cls, spec: ModelSpec) -> ModelBundle:
        """A fresh model (V1): backbone weights, new 2-D embeddings and head, LoRA on top."""
        spec = family_spec(spec)
        base = base_model(spec)
        if spec.full_finetune:
            freeze_fixed_embeddings(base, spec)
        model: torch.nn.Module = (
            base if spec.full_finetune else get_peft_model(base, spec.lora_config())
        )
        return cls(spec, model, load_tokenizer(spec.backbone))

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """The tensors a bundle stores: the PEFT adapter + heads, or everything when full."""
        if isinstance(self.model, PeftModel):
            state = get_peft_model_state_dict(self.model, save_embedding_layers=False)
        else:
            state = self.model.state_dict()
        return {k: v.detach().clone().contiguous() for k, v in state.items()}

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        if isinstance(self.model, PeftModel):
            result = set_peft_model_state_dict(self.model, state)
            unexpected = list(getattr(result, "unexpected_keys", []))
            if unexpected:
                raise ValueError(f"adapter tensors do not fit the model: {unexpected[:5]}")
        else:
            self.model.load_state_dict(state)

    def child(self, labels: list[str]) -> ModelBundle:
        """A new model that continues from this one (warm start).

        ``labels`` must start with this model's labels in order; extra labels get new head rows
        (freshly initialised) while the old rows, the adapter and the 2-D embeddings are copied.
        The child is always an adapter: a child of a full fine-tune is a fresh LoRA adapter on
        top of the parent's weights (which stay in the parent's version, named by
        ``spec.base_model``), so a candidate never stores the whole encoder again.
        """
        if labels[: len(self.spec.labels)] != self.spec.labels:
            raise ValueError("a child's labels must extend its parent's labels in order")
        n_old = len(self.spec.labels)
        if self.spec.full_finetune:
            base_state = self.trainable_state()
            spec = replace(
                self.spec,
                labels=list(labels),
                temperature=1.0,
                full_finetune=False,
                base_model=self.source_uri or "",
            )
            state: dict[str, torch.Tensor] | None = None
        else:
            base_state = self.base_state
            spec = replace(self.spec, labels=list(labels), temperature=1.0)
            state = self.trainable_state()
        model = _adapter_model(spec, base_state)
        child = ModelBundle(spec, model, self.tokenizer)
        child.base_state = base_state
        if state is not None:
            fresh = child.trainable_state()
            for key, value in state.items():
                if is_head_key(key) and value.shape != fresh[key].shape:
                    grown = fresh[key].clone()
                    grown[:n_old] = value
                    state[key] = grown
            child.load_trainable_state(state)
        added = labels[n_old:]
        if added:
            logger.info("warm start: head extended with new labels %s", added)
        return child

    def save(self, directory: str | Path) -> Path:
        if self.base_state is not None and not self.spec.base_model:
            raise ValueError(
                "this adapter sits on a full fine-tune that is not registered; register the "
                "parent first (its version names the weights the adapter needs)"
            )
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / SPEC_FILE).write_text(
            json.dumps({**asdict(self.spec), "format_version": FORMAT_VERSION}, indent=2),
            encoding="utf-8",
        )
        name = FULL_FILE if self.spec.full_finetune else ADAPTER_FILE
        save_file(self.trainable_state(), str(directory / name))
        self.tokenizer.save_pretrained(str(directory / TOKENIZER_DIR))
        return directory

    @classmethod
    def load(
        cls,
        directory: str | Path,
        *,
        backbone: str | None = None,
        base_loader: Callable[[str], dict[str, torch.Tensor]] | None = None,
    ) -> ModelBundle:
        """Rebuild a saved bundle over its backbone (``backbone`` overrides the recorded path).

        An adapter on a full fine-tune (``spec.base_model``) needs ``base_loader``, which turns
        that model URI into its full weights (the registry passes one)."""
        directory = Path(directory)
        spec_path = directory / SPEC_FILE
        if not spec_path.is_file():
            raise FileNotFoundError(f"{directory} is not a selfimprove model (no {SPEC_FILE})")
        data = json.loads(spec_path.read_text(encoding="utf-8"))
        spec = ModelSpec.from_dict(data, where=str(spec_path))
        if backbone:  # a model continues (or runs) on a backbone of its own family only
            check_same_family(spec.family, backbone)
        spec.backbone = resolve_backbone(spec.backbone, backbone, spec.model_type)
        found = backbone_fingerprint(spec.backbone)
        if spec.backbone_fingerprint and found and found != spec.backbone_fingerprint:
            raise ValueError(
                f"backbone {spec.backbone} differs from the one {directory} was trained on"
            )
        tokenizer = load_tokenizer(str(directory / TOKENIZER_DIR))
        if spec.full_finetune:
            bundle = cls(spec, base_model(spec, load_weights=False), tokenizer)
            bundle.load_trainable_state(load_file(str(directory / FULL_FILE)))
        else:
            base_state = None
            if spec.base_model:
                if base_loader is None:
                    raise ValueError(
                        f"{directory} is an adapter on {spec.base_model}; load it through the "
                        "registry (or pass base_loader) to get those weights"
                    )
                base_state = base_loader(spec.base_model)
            bundle = cls(spec, _adapter_model(spec, base_state), tokenizer)
            bundle.base_state = base_state
            bundle.load_trainable_state(load_file(str(directory / ADAPTER_FILE)))
        bundle.model.eval()
        return bundle

    def loss_and_logits(
        self, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        output = self.model(**batch)
        return output.loss, output.logits

    @torch.inference_mode()
    def window_logits(
        self,
        windows: list[Window],
        batch_size: int = 16,
        *,
        model: torch.nn.Module | None = None,
        max_tokens: int | None = None,
    ) -> list[torch.Tensor]:
        """Logits per window (token logits for the extractor, one row for the classifier).

        Windows are batched by length, ``batch_size`` at most and, with ``max_tokens``, no more
        tokens than that per padded batch. ``model`` runs instead of ``self.model`` when given:
        a predictor passes its inference copy (see ``inference.inference_module``).
        """
        module = self.model if model is None else model
        module.eval()
        device = module_device(module)
        out: list[torch.Tensor | None] = [None] * len(windows)
        for idx in token_batches(windows, batch_size, max_tokens):
            batch = to_device(self.featurizer.collate([windows[i] for i in idx]), device)
            batch.pop("labels", None)
            with autocast(device):
                logits = module(**batch).logits.float().cpu()
            for row, i in enumerate(idx):
                out[i] = logits[row, : len(windows[i])] if logits.dim() == 3 else logits[row]
        return [t for t in out if t is not None]

    @torch.inference_mode()
    def mean_loss(self, windows: list[Window], batch_size: int = 16) -> float:
        """Mean loss per labeled token (extractor) or window (classifier), dropout off.

        Summed over all labels and divided once, so the figure does not depend on how the
        windows were batched; it is the early-stopping signal.
        """
        self.model.eval()
        device = module_device(self.model)
        total, count = 0.0, 0
        for idx in length_batches(windows, batch_size):
            batch = to_device(self.featurizer.collate([windows[i] for i in idx]), device)
            labels = batch.pop("labels", None)
            if labels is None:
                raise ValueError("windows carry no labels; cannot compute a loss")
            with autocast(device):
                logits = self.model(**batch).logits.float()
            total += float(
                torch.nn.functional.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction="sum"
                )
            )
            count += int((labels != -100).sum())
        return total / max(count, 1)

    def merge_for_inference(self) -> None:
        """Fold LoRA into the weights: same outputs, one matmul less per layer at serving time."""
        if isinstance(self.model, PeftModel):
            self.model = self.model.merge_and_unload()
        self.model.eval()
