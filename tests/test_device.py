"""Device selection, description, autocast policy and seeding."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from medai_lib.device import (
    autocast, autocast_dtype, benchmark_matmul, describe_device, get_device, seed_everything,
)
from medai_lib.errors import DeviceNotAvailableError

skip_if_no_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_auto_picks_what_torch_sees():
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert get_device("auto").type == expected
    assert get_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_requested_without_a_gpu_says_what_is_available():
    with pytest.raises(DeviceNotAvailableError, match=r"no CUDA GPU \(available: cpu\).*DEVICE = 'auto'"):
        get_device("cuda")
    with pytest.raises(DeviceNotAvailableError):
        get_device("cuda:1")


@pytest.mark.parametrize("bad", ["tpu", "gpu", "cuda:x", 3, None])
def test_unknown_device_names(bad):
    with pytest.raises(ValueError, match="device must be one of 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"):
        get_device(bad)


def test_cpu_policy_and_description():
    cpu = get_device("cpu")
    assert autocast_dtype(cpu) is None
    with autocast(cpu):
        assert not torch.is_autocast_enabled()
    info = describe_device("cpu")
    assert info.device == "cpu" and info.autocast_dtype is None and info.torch_version == torch.__version__
    assert "Compute device : cpu" in str(info) and "<table>" in info._repr_html_()


@skip_if_no_cuda
def test_cuda_policy():
    cuda = get_device("cuda")
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    assert autocast_dtype(cuda) == expected
    info = describe_device(cuda)
    assert info.total_memory_gb > 0 and info.compute_capability


def test_seed_everything_reproduces_numpy_and_torch():
    rng_a = seed_everything(123)
    ta = torch.rand(3)
    na = np.random.rand(2)  # noqa: NPY002 - checking that third-party global state is seeded too
    rng_b = seed_everything(123)
    assert torch.equal(ta, torch.rand(3))
    assert np.array_equal(na, np.random.rand(2))  # noqa: NPY002
    assert rng_a.integers(1 << 30) == rng_b.integers(1 << 30)
    with pytest.raises(ValueError, match="non-negative integer"):
        seed_everything(-1)


def test_matmul_benchmark_runs():
    assert benchmark_matmul(get_device("cpu"), size=32, repeats=1) > 0
    with pytest.raises(ValueError, match="size"):
        benchmark_matmul(get_device("cpu"), size=0)


def test_a_shared_gpu_caps_this_kernels_memory(monkeypatch):
    """The class hub sets MEDAI_GPU_MEMORY_FRACTION for learners sharing a card; get_device applies it."""
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_per_process_memory_fraction", lambda f, d: calls.append((f, str(d))))
    monkeypatch.setenv("MEDAI_GPU_MEMORY_FRACTION", "0.25")
    assert get_device("cuda:1") == torch.device("cuda", 1)
    assert get_device("auto") == torch.device("cuda", 0)
    assert calls == [(0.25, "cuda:1"), (0.25, "cuda:0")]
    assert get_device("cpu").type == "cpu" and len(calls) == 2  # the CPU is not capped
    for bad in ("0", "1.5", "half"):
        monkeypatch.setenv("MEDAI_GPU_MEMORY_FRACTION", bad)
        with pytest.raises(ValueError, match="MEDAI_GPU_MEMORY_FRACTION.*above 0 and at most 1"):
            get_device("cuda")
    monkeypatch.delenv("MEDAI_GPU_MEMORY_FRACTION")
    get_device("cuda")
    assert len(calls) == 2  # no share set: the whole card


@skip_if_no_cuda
def test_a_shared_gpu_share_is_enforced(monkeypatch):
    monkeypatch.setenv("MEDAI_GPU_MEMORY_FRACTION", "0.1")
    device = get_device("cuda")
    total = torch.cuda.get_device_properties(device).total_memory
    with pytest.raises(torch.cuda.OutOfMemoryError):
        torch.empty(int(total * 0.2), dtype=torch.uint8, device=device)
    torch.cuda.set_per_process_memory_fraction(1.0, device)
