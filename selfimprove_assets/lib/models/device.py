"""Where models train and predict: a CUDA device when there is one, the CPU otherwise.

One function decides (``select_device``) for training, the training job and serving. The
preference comes from the caller (``TrainConfig.device``, the training job's ``--device``, a
predictor's ``device``), else from the settings' ``device`` (``SELFIMPROVE_DEVICE``), else
``auto``: CUDA when torch sees
one, the CPU otherwise. Asking for CUDA where there is none is an error, never a silent CPU run.

On CUDA the forward passes run under bf16 autocast (where the GPU supports bf16: Ampere and
newer); on the CPU nothing changes: float32 training and the int8 inference form of
``inference.py``, with the very numbers the CPU-only code gave.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import torch

ENV_DEVICE = "SELFIMPROVE_DEVICE"
AUTO = "auto"


def _configured(env: Mapping[str, str] | None) -> str:
    """The settings' device (``SELFIMPROVE_DEVICE`` or ``device`` in selfimprove.toml), read
    where the model runs: a training pod's own environment decides, not the launcher's."""
    from selfimprove_assets.lib.settings import load_settings

    return load_settings(env).device


def select_device(
    preference: str | torch.device | None = None, *, env: Mapping[str, str] | None = None
) -> torch.device:
    """The device to run on.

    ``preference``: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; None (or empty) reads
    ``SELFIMPROVE_DEVICE``, and ``auto`` when that is unset too. ``auto`` is CUDA when torch
    sees a device and the CPU otherwise; an explicit CUDA request without one raises.
    """
    if isinstance(preference, torch.device):
        raw = str(preference)
    else:
        raw = (preference or _configured(env) or AUTO).strip().lower()
    if raw == AUTO:
        return _cuda(0) if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(raw)
    except RuntimeError:
        raise ValueError(
            f"unknown device {raw!r}: use auto, cpu, cuda or cuda:N ({ENV_DEVICE} or --device)"
        ) from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type != "cuda":
        raise ValueError(f"unsupported device {raw!r}: use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise RuntimeError(
            f"device {raw!r} was asked for ({ENV_DEVICE} or --device), but torch sees no CUDA "
            f"device (torch {torch.__version__}, built for CUDA {torch.version.cuda or 'none'}); "
            "use 'auto' or 'cpu', or install a CUDA build of torch on a GPU machine"
        )
    index = 0 if device.index is None else device.index
    count = torch.cuda.device_count()
    if index >= count:
        raise RuntimeError(f"device {raw!r} was asked for, but torch sees {count} CUDA device(s)")
    return _cuda(index)


def _cuda(index: int) -> torch.device:
    # With its index, so that it compares equal to a parameter's ``.device``.
    return torch.device("cuda", index)


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's parameters (the CPU for a module without any)."""
    for parameter in module.parameters():
        return parameter.device
    return torch.device("cpu")


def supports_bf16(device: torch.device) -> bool:
    """Whether forward passes on ``device`` run in bf16 autocast (CUDA with bf16 only)."""
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on a CUDA device that supports it; a no-op context everywhere else.

    The CPU path stays float32 (CPU autocast is not used: it would change the numbers the
    recipe was measured with and the int8 inference form does not need it).
    """
    if supports_bf16(device):
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """A collated batch on ``device`` (the same tensors when they are there already)."""
    if all(t.device == device for t in batch.values()):
        return batch
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}
