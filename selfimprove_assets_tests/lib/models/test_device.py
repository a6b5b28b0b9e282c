"""Device selection, bf16 autocast on CUDA only, and a CPU path that gives the numbers it gave.

The CPU reference figures (``reference_8f3e188.json``, with the run's knobs) were computed once
with the code at commit 8f3e188 (before device handling existed), in a ``git worktree`` at that
commit, by the very run that ``_reference_run`` makes (one torch thread). On this machine the
new code reproduces them to the last digit; the comparison allows 1e-6 relative for a CPU with
other float kernels. The tests marked ``cuda`` run only where torch sees a GPU.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from selfimprove_assets.lib.models.device import (
    ENV_DEVICE,
    autocast,
    module_device,
    select_device,
    supports_bf16,
    to_device,
)
from selfimprove_assets.lib.models.inference import (
    FP32,
    INT8,
    InferenceOptions,
    inference_module,
    is_quantized,
)
from selfimprove_assets.lib.models.predictor import ModelPredictor
from selfimprove_assets.lib.models.training import (
    TrainConfig,
    TrainResult,
    example_document,
    train,
)
from selfimprove_assets_tests.lib.models.tiny_corpus import make_corpus

no_cuda = pytest.mark.no_cuda  # deselected on a machine with CUDA (see conftest)
cuda = pytest.mark.cuda  # deselected on a machine without CUDA: run them with `pytest -m cuda`


@no_cuda
def test_auto_is_the_cpu_without_cuda() -> None:
    assert select_device("auto") == torch.device("cpu")
    assert select_device(None, env={}) == torch.device("cpu")  # unset means auto
    assert select_device("", env={ENV_DEVICE: "auto"}) == torch.device("cpu")


@no_cuda
@pytest.mark.parametrize("asked", ["cuda", "cuda:0", "CUDA:1"])
def test_asking_for_cuda_without_one_is_a_clear_error(asked: str) -> None:
    with pytest.raises(RuntimeError, match=r"torch sees no CUDA device.*'auto' or 'cpu'"):
        select_device(asked)
    with pytest.raises(RuntimeError, match=ENV_DEVICE):
        select_device(None, env={ENV_DEVICE: asked})


def test_explicit_preference_beats_the_environment() -> None:
    assert select_device("cpu", env={ENV_DEVICE: "cuda"}) == torch.device("cpu")
    assert select_device(None, env={ENV_DEVICE: " CPU "}) == torch.device("cpu")
    assert select_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("asked", ["tpu0", "gpu", "meta"])
def test_unknown_devices_are_refused(asked: str) -> None:
    with pytest.raises(ValueError, match="auto, cpu, cuda or cuda:N"):
        select_device(asked)


def test_autocast_is_a_no_op_on_the_cpu() -> None:
    cpu = torch.device("cpu")
    assert not supports_bf16(cpu)
    assert isinstance(autocast(cpu), contextlib.nullcontext)
    torch.manual_seed(0)
    layer = torch.nn.Linear(16, 8)
    x = torch.randn(4, 16)
    outside = layer(x)
    with autocast(cpu):
        assert not torch.is_autocast_enabled("cpu")
        inside = layer(x)
    assert inside.dtype == torch.float32
    assert torch.equal(inside, outside)


def test_batches_already_on_the_device_are_not_copied() -> None:
    batch = {"input_ids": torch.ones(2, 3, dtype=torch.long)}
    assert to_device(batch, torch.device("cpu")) is batch
    assert module_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert module_device(torch.nn.ReLU()) == torch.device("cpu")  # no parameters


# The knobs and the figures of the seeded run below with the code at commit 8f3e188 (one torch
# thread). Every knob is spelled out, so that a later change of a default does not move it.
REFERENCE_8F3E188: dict[str, Any] = json.loads(
    (Path(__file__).parent / "reference_8f3e188.json").read_text(encoding="utf-8")
)

REL = 1e-6  # another CPU's float kernels may differ in the last digits; a real change is larger


@pytest.fixture
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _state_norm(result: TrainResult) -> float:
    state = result.bundle.trainable_state()
    return float(sum(float(v.float().norm()) for v in state.values()))


def _reference_run(backbone: str, device: str) -> dict[str, TrainResult]:
    config = TrainConfig(**REFERENCE_8F3E188["knobs"], device=device)
    corpus = make_corpus(n_per_type=4, seed=0)
    out = {"classifier": train("classifier", corpus, backbone=backbone, config=config)}
    full = config.model_copy(update={"full_finetune": True})
    out["extractor_full"] = train("extractor", corpus, backbone=backbone, config=full)
    out["extractor_warm"] = train(
        "extractor",
        make_corpus(n_per_type=3, seed=1),
        parent=out["extractor_full"].bundle,
        config=config.model_copy(update={"epochs": 2}),
    )
    return out


def test_cpu_training_gives_the_numbers_of_the_code_before_devices(
    tiny_backbone: str, one_thread: None
) -> None:
    results = _reference_run(tiny_backbone, "cpu")
    for name, expected in REFERENCE_8F3E188["figures"].items():
        result = results[name]
        assert result.device == "cpu"
        assert (result.steps, result.best_epoch) == (expected["steps"], expected["best_epoch"])
        assert _state_norm(result) == pytest.approx(expected["state_norm"], rel=REL, abs=1e-9), name
        history = result.history
        assert [h["train_loss"] for h in history] == pytest.approx(
            expected["train_loss"], rel=REL, abs=1e-9
        )
        assert [h["val_loss"] for h in history] == pytest.approx(
            expected["val_loss"], rel=REL, abs=1e-9
        )
        if "val_micro_f1" in expected:
            assert [h["val_micro_f1"] for h in history] == expected["val_micro_f1"]
        if "temperature" in expected:
            assert result.metrics["temperature"] == pytest.approx(
                expected["temperature"], rel=REL, abs=1e-9
            )


def test_cpu_inference_copy_stays_int8_and_shares_the_untouched_tensors(
    trained: dict[str, TrainResult],
) -> None:
    model = trained["extractor"].bundle.model
    copy = inference_module(model, INT8, torch.device("cpu"))
    assert is_quantized(copy)
    shared = {id(p) for p in model.parameters()} & {id(p) for p in copy.parameters()}
    assert shared  # embeddings and layer norms are not copied on the same device
    assert module_device(model) == torch.device("cpu")


# -- on a GPU ---------------------------------------------------------------------------------


@cuda
def test_auto_picks_cuda_and_an_index_that_matches_parameters() -> None:
    device = select_device("auto")
    assert device.type == "cuda"
    assert device == torch.nn.Linear(2, 2).to(device).weight.device
    with pytest.raises(RuntimeError, match="CUDA device"):
        select_device(f"cuda:{torch.cuda.device_count()}")


@cuda
def test_cuda_training_runs_in_bf16_and_hands_back_a_cpu_bundle(
    tiny_backbone: str, corpus: list[Any], fast_config: TrainConfig
) -> None:
    device = select_device("cuda")
    assert supports_bf16(device)
    with autocast(device):
        out = torch.nn.Linear(8, 8).to(device)(torch.randn(2, 8, device=device))
    assert out.dtype == torch.bfloat16
    result = train("extractor", corpus, backbone=tiny_backbone, config=fast_config)
    assert result.device.startswith("cuda")
    assert module_device(result.bundle.model) == torch.device("cpu")
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"] * 1.5
    # the serving copy on the GPU is float (no int8 CPU kernel) and leaves the bundle alone
    gpu = ModelPredictor(result.bundle, device=device)
    assert module_device(gpu.inference_model()).type == "cuda"
    assert not is_quantized(gpu.inference_model())
    assert module_device(result.bundle.model) == torch.device("cpu")
    docs = [example_document(e) for e in corpus[:6]]
    cpu = ModelPredictor(result.bundle, device="cpu", options=InferenceOptions(precision=FP32))
    windows = cpu.windows(docs)
    on_gpu, on_cpu = gpu.window_logits(windows), cpu.window_logits(windows)
    assert all(t.device.type == "cpu" for t in on_gpu)
    same = [
        float(g.argmax(-1).eq(c.argmax(-1)).float().mean())
        for g, c in zip(on_gpu, on_cpu, strict=True)
    ]
    assert sum(same) / len(same) >= 0.9  # bf16 moves a few near-ties, not the predictions
