"""The inference form of a model: LoRA folded in, encoder Linear layers in int8.

Prediction never runs the training module as it is. ``inference_module`` builds, once, a copy
made for CPU throughput:

- the LoRA adapters are merged into the base weights (``merge_and_unload``): one matmul per
  projection instead of three;
- every ``nn.Linear`` of the encoder is dynamically quantized to int8 (weights per output
  channel, activations per batch over the full 8 bits where the CPU has VNNI), which roughly
  halves the encoder's time. The heads, the pooler and the embeddings stay float32.

Parameters that the copy does not change (embeddings, layer norms, heads) are shared with the
source module rather than copied, so a served model costs little more memory than before.

The classifier reads only the first ``classifier_tokens`` (128) tokens of a document: the type
of a document shows in its upper part, and a shorter input is several times cheaper. On the
synthetic corpus a classifier trained on whole documents keeps its accuracy at 128 tokens but
not at 64 (0.83); one trained on the same first 64 tokens keeps 0.99 - so training should cut
documents the way prediction does.

Batches are capped in tokens as well as in windows (``token_budget``): above 32 MiB glibc maps
fresh pages for every activation, and the page faults cost more than the arithmetic.

The defaults keep accuracy (``benchmarks/bench_models.py`` measures the agreement with the
float32 whole-document path on trained models); they can be switched off for a process with
``[inference]`` settings (``SELFIMPROVE_INFERENCE_PRECISION=fp32``,
``SELFIMPROVE_INFERENCE_CLASSIFIER_TOKENS=0``), or per
predictor with ``InferenceOptions``. Evaluation, training-time validation and serving all go
through ``ModelPredictor``, so whatever is chosen applies to all three alike.

On a CUDA device (``models.device``) the copy is not quantized (int8 dynamic quantization is a
CPU kernel): LoRA is merged and the forward passes run in bf16 autocast.
"""

from __future__ import annotations

import copy
import functools
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from peft import PeftModel
from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
from torch.ao.quantization import quantize_dynamic
from torch.ao.quantization.qconfig import per_channel_dynamic_qconfig
from torch.ao.quantization.quantization_mappings import get_default_dynamic_quant_module_mappings

from selfimprove_assets.lib.defaults import PRECISIONS, InferenceSettings
from selfimprove_assets.lib.models.device import module_device
from selfimprove_assets.lib.models.families import family_of_module
from selfimprove_assets.lib.models.featurizer import SEP_BOX, Window
from selfimprove_assets.lib.models.shapes import NO_WORD

logger = logging.getLogger(__name__)

INT8, FP32 = PRECISIONS
DEFAULT_CLASSIFIER_TOKENS = InferenceSettings().classifier_tokens
# Only the encoder is quantized: heads and pooler are tiny and decide the calibrated scores.
# Each family's encoder sits at ``<prefix>.encoder`` (``families``); this is the default's.
QUANTIZED_PREFIX = "layoutlm.encoder"


@dataclass(frozen=True)
class InferenceOptions:
    """How a predictor runs its model.

    ``precision``: ``int8`` (dynamic quantization of the encoder's Linear layers) or ``fp32``.
    ``classifier_tokens``: the classifier reads a document's first N tokens ([CLS] and [SEP]
    included); ``None`` reads every window of the document and averages them.
    """

    precision: str = INT8
    classifier_tokens: int | None = DEFAULT_CLASSIFIER_TOKENS

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.classifier_tokens is not None and self.classifier_tokens < 8:
            raise ValueError(
                f"classifier_tokens must be at least 8 (or None), got {self.classifier_tokens}"
            )

    @classmethod
    def from_settings(cls, inference: InferenceSettings) -> InferenceOptions:
        """Options from the ``[inference]`` settings (``0`` classifier tokens: the whole
        document)."""
        return cls(
            precision=inference.precision, classifier_tokens=inference.classifier_tokens or None
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> InferenceOptions:
        """Options from the settings in effect (``env`` over ``selfimprove.toml``):
        ``SELFIMPROVE_INFERENCE_PRECISION`` and ``SELFIMPROVE_INFERENCE_CLASSIFIER_TOKENS``."""
        from selfimprove_assets.lib.settings import load_settings

        return cls.from_settings(load_settings(env).inference)

    @classmethod
    def reference(cls) -> InferenceOptions:
        """float32 over whole documents: the unoptimised path, for comparisons."""
        return cls(precision=FP32, classifier_tokens=None)


# glibc serves a request above its largest mmap threshold (32 MiB on 64-bit) with a fresh
# mmap every time, and faulting in those pages costs more than the int8 matmul that fills them
# (an add over a 34 MB tensor: 20 ms instead of 1 ms). Batches are therefore capped so that the
# largest activation - the feed-forward layer's, tokens x intermediate_size floats - stays
# under it, with room to spare.
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024
ACTIVATION_BYTES = MMAP_THRESHOLD_MAX * 3 // 4


def token_budget(model: torch.nn.Module) -> int:
    """Tokens per batch (padding included) that keep the widest activation under 24 MiB."""
    config = getattr(model, "config", None)
    width = max(
        int(getattr(config, "intermediate_size", 0) or 0),
        int(getattr(config, "hidden_size", 0) or 0),
        1,
    )
    return max(512, ACTIVATION_BYTES // (width * 4))


def token_batches(
    windows: Sequence[Window], batch_size: int, max_tokens: int | None
) -> list[list[int]]:
    """Window indices in batches of similar length: at most ``batch_size`` windows and, when
    ``max_tokens`` is given, at most that many tokens once padded to the batch's longest."""
    order = sorted(range(len(windows)), key=lambda i: len(windows[i]))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        longest = len(windows[i])  # ascending order: the newcomer is the longest
        too_long = max_tokens is not None and (len(current) + 1) * longest > max_tokens
        if current and (len(current) >= batch_size or too_long):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def parameter_versions(module: torch.nn.Module) -> tuple[int, ...]:
    """A key that changes whenever a parameter of ``module`` is replaced or updated in place.

    An optimizer step or ``load_state_dict`` bumps a tensor's version counter, so a predictor
    held across training steps rebuilds its inference copy instead of using stale weights.
    """
    return (id(module), *(p._version for p in module.parameters()))


def _shared_memo(model: torch.nn.Module) -> dict[int, Any]:
    """``deepcopy`` memo that shares every tensor except those of Linear layers.

    Linear weights are the ones merging and quantization replace; embeddings, layer norms and
    buffers are reused by the copy as they are.
    """
    linear = {
        id(t)
        for m in model.modules()
        if isinstance(m, torch.nn.Linear)
        for t in (*m.parameters(recurse=False), *m.buffers(recurse=False))
    }
    tensors = [*model.parameters(), *model.buffers()]
    return {id(t): t for t in tensors if id(t) not in linear}


@functools.cache
def cpu_has_vnni() -> bool:
    """Whether the CPU has VNNI int8 dot products (int32 accumulation, no int16 saturation)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})


class FullRangeInt8Linear(DynamicLinear):
    """A dynamic int8 Linear whose activations use all 8 bits.

    The stock module quantizes activations to 7 bits (``reduce_range``) so that AVX2 kernels,
    which add pairs of u8*s8 products in int16, cannot saturate. VNNI accumulates in int32, so
    the full range is safe there, and on the trained synthetic-corpus extractor it halves the
    entities that differ from float32 (agreement F1 0.957 -> 0.980) at the same speed.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        packed = self._packed_params._packed_params
        out = torch.ops.quantized.linear_dynamic(x, packed, reduce_range=False)
        return out.to(x.dtype)


def quantize_int8(
    model: torch.nn.Module, *, full_range: bool | None = None, force: bool = False
) -> bool:
    """Dynamic int8 quantization of the encoder's Linear layers, in place.

    Weights are quantized per output channel; activations per batch, over 8 bits where the CPU
    has VNNI (``full_range`` None: detect) and 7 bits otherwise. Returns False (model left
    float32) when the model has no encoder at the top (``<family prefix>.encoder``) or, unless
    ``force`` (measuring), its family's int8 output does not agree with float32
    (``families.Family.int8``).
    ``torch.ao.quantization`` is deprecated upstream in favour of torchao (not a dependency);
    torch is pinned, and the tests fail if a torch upgrade removes it.
    """
    family = family_of_module(model)
    encoder = family.encoder if family is not None else QUANTIZED_PREFIX
    if not any(name == encoder for name, _ in model.named_modules()):
        logger.warning("model has no %s; inference stays float32", encoder)
        return False
    if family is not None and not family.int8 and not force:
        logger.info("int8 does not agree with float32 for the %s family; fp32", family.name)
        return False
    mapping = dict(get_default_dynamic_quant_module_mappings())
    if cpu_has_vnni() if full_range is None else full_range:
        mapping[torch.nn.Linear] = FullRangeInt8Linear
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*quantiz.*", category=UserWarning)
        quantize_dynamic(
            model,
            {f"{encoder}.layer": per_channel_dynamic_qconfig},  # not LayoutLMv3's rel_pos biases
            dtype=torch.qint8,
            mapping=mapping,
            inplace=True,
        )
    return True


def inference_module(
    model: torch.nn.Module, precision: str = INT8, device: torch.device | None = None
) -> torch.nn.Module:
    """A copy of ``model`` for prediction only: LoRA merged, encoder Linear layers in int8.

    ``model`` itself is left untouched (it may still be training); the copy shares the
    tensors that neither step changes. ``device`` (default: where ``model`` is) is where the
    copy runs; int8 dynamic quantization is a CPU kernel, so on a GPU the copy stays in float
    (its forward passes run under bf16 autocast, see ``models.device``).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    source = module_device(model)
    target = source if device is None else device
    # Shared tensors would follow the copy to another device (``Module.to`` moves a parameter's
    # data in place), so a copy for another device shares nothing.
    out = copy.deepcopy(model, _shared_memo(model) if target == source else {})
    if isinstance(out, PeftModel):
        out = out.merge_and_unload()
    out.eval()
    if target != source:
        out.to(target)
    if precision == INT8 and target.type == "cpu":
        quantize_int8(out)
    elif precision == INT8:
        logger.info("int8 is a CPU kernel; inference on %s stays in float (bf16 autocast)", target)
    return out


def is_quantized(module: torch.nn.Module) -> bool:
    """Whether some Linear layer of ``module`` runs in int8."""
    return any(isinstance(m, DynamicLinear) for m in module.modules())


def head_window(window: Window, n_tokens: int, sep_id: int) -> Window:
    """The first ``n_tokens`` tokens of a window ([CLS] kept, [SEP] closing it)."""
    if len(window) <= n_tokens:
        return window
    keep = n_tokens - 1
    return Window(
        doc_index=window.doc_index,
        input_ids=[*window.input_ids[:keep], sep_id],
        bbox=[*window.bbox[:keep], SEP_BOX],
        word_ids=[*window.word_ids[:keep], None],
        first_subword=[*window.first_subword[:keep], False],
        labels=None if window.labels is None else [*window.labels[:keep], window.labels[-1]],
        doc_label=window.doc_label,
        shape_ids=None if window.shape_ids is None else [*window.shape_ids[:keep], NO_WORD],
        line_bbox=None if window.line_bbox is None else [*window.line_bbox[:keep], SEP_BOX],
    )


def classifier_windows(windows: list[Window], n_tokens: int | None, sep_id: int) -> list[Window]:
    """What the classifier reads: every window, or each document's first ``n_tokens``."""
    if n_tokens is None:
        return windows
    out: list[Window] = []
    seen: set[int] = set()
    for window in windows:
        if window.doc_index in seen:
            continue
        seen.add(window.doc_index)
        out.append(head_window(window, n_tokens, sep_id))
    return out
