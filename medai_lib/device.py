"""GPU kernels: pick the compute device once, describe it, decide mixed precision, seed everything.

Library code never calls ``.cuda()``: notebooks call :func:`get_device` once and pass the result down.
"""
from __future__ import annotations

import os
import platform
import random
import re
from contextlib import nullcontext
from dataclasses import asdict, dataclass

import numpy as np

from medai_lib.errors import DeviceNotAvailableError

_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def _torch():
    import torch

    return torch


def get_device(device: "str | object" = "auto"):
    """Return the ``torch.device`` to compute on.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda", "cuda:N", "mps"} or torch.device, default "auto"
        ``"auto"`` takes the first CUDA GPU if there is one, then Apple's MPS, then the CPU.
        Any other value must be present on this machine.

    Returns
    -------
    torch.device

    Raises
    ------
    DeviceNotAvailableError
        When the requested device is not present; the message lists what is.

    Examples
    --------
    >>> from medai_lib.device import get_device
    >>> get_device("cpu")
    device(type='cpu')
    """
    torch = _torch()
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str) or not _DEVICE_RE.match(device.strip().lower()):
        raise ValueError(
            f"device must be one of 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'; got {device!r}. "
            "Use DEVICE = 'auto' to take a GPU when there is one."
        )
    device = device.strip().lower()
    has_mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if device == "auto":
        if torch.cuda.is_available():
            return _share_of_gpu(torch, torch.device("cuda", 0))
        if has_mps:
            return torch.device("mps")
        return torch.device("cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "mps":
        if not has_mps:
            raise DeviceNotAvailableError(
                f"device 'mps' was requested but Apple's MPS backend is not available here "
                f"({available_devices_text()}). Use DEVICE = 'auto' or 'cpu'."
            )
        return torch.device("mps")
    # cuda or cuda:N
    index = int(device.split(":")[1]) if ":" in device else 0
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if n == 0:
        raise DeviceNotAvailableError(
            f"device {device!r} was requested but this kernel sees no CUDA GPU "
            f"({available_devices_text()}). Use DEVICE = 'auto' (falls back to the CPU) or switch to a "
            "GPU kernel; on a GPU machine check that PyTorch was installed with CUDA (torch.version.cuda)."
        )
    if index >= n:
        raise DeviceNotAvailableError(
            f"device {device!r} was requested but only {n} CUDA GPU(s) are visible (cuda:0..cuda:{n - 1}). "
            "Pick one of those or use DEVICE = 'cuda'."
        )
    return _share_of_gpu(torch, torch.device("cuda", index))


#: Set by the class hub for a learner who shares a GPU: the fraction of the card's memory this kernel may use.
GPU_MEMORY_FRACTION_ENV = "MEDAI_GPU_MEMORY_FRACTION"


def _share_of_gpu(torch, device):
    """Cap this process's share of the GPU's memory when the hub says the card is shared (an allocation
    beyond the share fails with an out-of-memory error in this kernel instead of starving the others)."""
    raw = os.environ.get(GPU_MEMORY_FRACTION_ENV, "").strip()
    if not raw:
        return device
    try:
        fraction = float(raw)
    except ValueError:
        fraction = float("nan")
    if not 0 < fraction <= 1:
        raise ValueError(f"{GPU_MEMORY_FRACTION_ENV}={raw!r} must be a number above 0 and at most 1 (the share "
                         "of the GPU's memory this kernel may use); ask the hub's administrator to fix it.")
    torch.cuda.set_per_process_memory_fraction(fraction, device)
    return device


def available_devices_text() -> str:
    """A short human-readable list of the devices this kernel can use."""
    torch = _torch()
    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        found.append("mps")
    return "available: " + ", ".join(found)


@dataclass(frozen=True)
class DeviceInfo:
    """What a notebook shows at the top: where the computation runs."""

    device: str
    name: str
    total_memory_gb: float | None
    compute_capability: str | None
    autocast_dtype: str | None
    torch_version: str
    cuda_version: str | None
    cpu_threads: int

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        lines = [f"Compute device : {self.device} ({self.name})"]
        if self.total_memory_gb is not None:
            lines.append(f"GPU memory     : {self.total_memory_gb:.1f} GB")
        if self.compute_capability:
            lines.append(f"Compute capab. : {self.compute_capability}")
        lines.append(f"Mixed precision: {self.autocast_dtype or 'off (full float32)'}")
        lines.append(f"PyTorch        : {self.torch_version}" + (f", CUDA {self.cuda_version}" if self.cuda_version else ""))
        lines.append(f"CPU threads    : {self.cpu_threads}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left;padding-right:1em'>{k}</th><td>{v}</td></tr>"
            for k, v in [
                ("Compute device", f"{self.device} ({self.name})"),
                ("GPU memory", f"{self.total_memory_gb:.1f} GB" if self.total_memory_gb else "none (CPU)"),
                ("Mixed precision", self.autocast_dtype or "off (full float32)"),
                ("PyTorch", self.torch_version + (f", CUDA {self.cuda_version}" if self.cuda_version else "")),
                ("CPU threads", self.cpu_threads),
            ]
        )
        return f"<table>{rows}</table>"


def autocast_dtype(device) -> "object | None":
    """The mixed-precision dtype for ``device``: bf16 where supported, fp16 on older GPUs, None on CPU.

    Examples
    --------
    >>> from medai_lib.device import autocast_dtype, get_device
    >>> autocast_dtype(get_device("cpu")) is None
    True
    """
    torch = _torch()
    device = get_device(device) if isinstance(device, str) else device
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float16
    return None


def autocast(device):
    """A context manager running the forward pass in the policy's precision (no-op on CPU)."""
    torch = _torch()
    dtype = autocast_dtype(device)
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def describe_device(device="auto") -> DeviceInfo:
    """Describe the compute device: name, memory, compute capability, precision, versions.

    Examples
    --------
    >>> from medai_lib.device import describe_device
    >>> describe_device("cpu").device
    'cpu'
    """
    torch = _torch()
    device = get_device(device)
    name = platform.processor() or platform.machine() or "CPU"
    memory = capability = None
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        name = props.name
        memory = props.total_memory / 1024**3
        capability = f"{props.major}.{props.minor}"
    elif device.type == "mps":
        name = "Apple GPU (MPS)"
    dtype = autocast_dtype(device)
    return DeviceInfo(
        device=str(device),
        name=name,
        total_memory_gb=memory,
        compute_capability=capability,
        autocast_dtype=str(dtype).replace("torch.", "") if dtype is not None else None,
        torch_version=torch.__version__,
        cuda_version=torch.version.cuda,
        cpu_threads=torch.get_num_threads(),
    )


def seed_everything(seed: int, *, deterministic: bool = True) -> np.random.Generator:
    """Seed Python, NumPy and PyTorch together and return a NumPy generator for this seed.

    Parameters
    ----------
    seed : int
        Any non-negative integer.
    deterministic : bool, default True
        Ask PyTorch for deterministic algorithms where they exist (same seed, same model on the CPU).

    Examples
    --------
    >>> from medai_lib.device import seed_everything
    >>> seed_everything(0).integers(100) == seed_everything(0).integers(100)
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}.")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - third-party code may still use the global state
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        torch = _torch()
    except ImportError:  # pragma: no cover
        return np.random.default_rng(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return np.random.default_rng(seed)


def benchmark_matmul(device, *, size: int = 1024, repeats: int = 5) -> float:
    """Throughput of a ``size x size`` float32 matrix multiplication on ``device``, in GFLOP/s.

    A quick way to see what a GPU changes: the same line of code runs on either device.

    Examples
    --------
    >>> from medai_lib.device import benchmark_matmul, get_device
    >>> benchmark_matmul(get_device("cpu"), size=64, repeats=1) > 0
    True
    """
    import time

    torch = _torch()
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer; got {size!r}.")
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer; got {repeats!r}.")
    generator = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device)
    b = torch.randn(size, size, generator=generator).to(device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    a @ b  # warm-up (kernel selection, memory allocation)
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync()
    seconds = (time.perf_counter() - start) / repeats
    return 2 * size**3 / seconds / 1e9
