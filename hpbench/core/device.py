"""Where and in which precision the pipeline computes.

``device``: ``"auto"`` (CUDA if available, else Apple MPS, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``,
``"mps"``. ``precision``: ``"auto"`` (bf16 on a GPU that supports it and on a CPU with native bf16 arithmetic,
AVX-512 BF16 or AMX; else fp32), ``"fp32"``, ``"bf16"``, ``"fp16"``; non-fp32 precisions autocast the forward passes of fine-tuning, scoring and evaluation while
weights, optimiser state and head-gate gradients stay in fp32 (mixed precision, Micikevicius et al. 2018).
"""
from __future__ import annotations

import contextlib
import re
from typing import Any, Iterator

import torch

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def available_devices() -> list[str]:
    """Device names this process can use, e.g. ``['cpu', 'cuda:0', 'cuda:1']``."""
    out = ["cpu"]
    if torch.cuda.is_available():
        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        out.append("mps")
    return out


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """A concrete ``torch.device`` for ``spec``; a bad value or a missing accelerator is a ``ValueError`` that
    names the value and lists what this machine has."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    spec = "auto" if spec is None else spec
    have = available_devices()
    if not isinstance(spec, str) or not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", spec):
        raise ValueError(f"device {spec!r} is not one of 'auto', 'cpu', 'cuda', 'cuda:N', 'mps'; "
                         f"this machine has: {', '.join(have)}")
    if spec == "auto":
        return torch.device(next((d for d in have if d != "cpu"), "cpu")) if len(have) > 1 else torch.device("cpu")
    name = "cuda:0" if spec == "cuda" else spec
    if name not in have:
        raise ValueError(f"device {spec!r} is not available on this machine; available: {', '.join(have)}")
    return torch.device(name)


def _cpu_flags() -> set[str]:
    """The CPU feature flags of /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    try:
        with open("/proc/cpuinfo") as fh:
            return {f for line in fh if line.startswith("flags") for f in line.split(":", 1)[1].split()}
    except OSError:
        return set()


def cpu_supports_bf16() -> bool:
    """Whether this CPU computes bf16 natively: AVX-512 BF16 or AMX tiles (oneDNN's bf16 kernels; without them
    bf16 autocast on a CPU is emulated and slower than fp32). torch's own checks first, /proc/cpuinfo else."""
    cpu = getattr(torch, "cpu", None)
    for check in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        fn = getattr(cpu, check, None)
        if fn is not None and fn():
            return True
    return bool(_cpu_flags() & {"avx512_bf16", "amx_bf16", "amx_tile"})


def auto_precision(device: torch.device) -> str:
    """What ``precision="auto"`` means on ``device``: bf16 where the hardware has it (CUDA with bf16; a CPU with
    AVX-512 BF16 or AMX), fp32 elsewhere (MPS included)."""
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_supports_bf16() else "fp32"
    return "fp32"


def resolve_precision(spec: str | None, device: torch.device) -> str:
    """``"fp32"``, ``"bf16"`` or ``"fp16"``; ``"auto"`` = :func:`auto_precision` (bf16 where the device computes
    it natively, else fp32)."""
    spec = "auto" if spec is None else spec
    if spec == "auto":
        return auto_precision(torch.device(device))
    if spec not in PRECISIONS:
        raise ValueError(f"precision {spec!r} is not one of 'auto', {', '.join(map(repr, PRECISIONS))}")
    if spec == "fp16" and device.type == "cpu":
        raise ValueError("precision 'fp16' needs an accelerator (CPU autocast supports bf16); use 'bf16' or 'fp32'")
    return spec


@contextlib.contextmanager
def autocast(device: torch.device | str, precision: str) -> Iterator[None]:
    """Autocast the enclosed forward passes to ``precision`` on ``device`` (nothing for fp32)."""
    device = torch.device(device)
    if precision == "fp32":
        yield
        return
    with torch.autocast(device.type, dtype=PRECISIONS[precision]):
        yield


def grad_scaler(precision: str, device: torch.device):
    """Loss scaling for fp16 training (a pass-through for fp32 and bf16)."""
    return torch.amp.GradScaler(torch.device(device).type, enabled=precision == "fp16")


def model_device(model) -> torch.device:
    return next(model.parameters()).device


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def device_record(device: torch.device, precision: str) -> dict[str, Any]:
    """What produced the numbers: device name, torch/CUDA versions, precision, peak accelerator memory (MiB)."""
    rec: dict[str, Any] = {"device": str(device), "device_name": "cpu", "precision": precision,
                           "torch_version": torch.__version__, "cuda_version": torch.version.cuda,
                           "peak_accelerator_mib": None}
    if device.type == "cuda":
        rec["device_name"] = torch.cuda.get_device_name(device)
        rec["peak_accelerator_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    elif device.type == "mps":
        rec["device_name"] = "mps"
    return rec
