"""Which device a run trains on, in which precision, and how fast that device can go.

The choice follows nanochat: CUDA, then MPS, then the CPU. A device that was
asked for and is missing is an error, never a silent fallback. Per device:

- **cuda**: bfloat16 autocast (tensor cores), ``torch.compile`` on, embeddings
  stored in bfloat16, TF32 for the float32 matmuls that remain.
- **mps**: float32 throughout, no ``torch.compile`` (unreliable on MPS), so
  optimiser state is float32 too, as MPS needs.
- **cpu**: float32, no ``torch.compile`` (its compile time dwarfs a short run;
  autoresearch lost ~55 s to it on 2 cores).
"""

from __future__ import annotations

import os
import re
import resource
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

import attrs

from hpdream_core import HpdreamError

if TYPE_CHECKING:
    import torch

_DEVICE: Final = re.compile(r"^(cuda(:\d+)?|mps|cpu)$")

#: Dense bfloat16 peak FLOP/s by GPU model name fragment (first match wins), for MFU.
PEAK_BF16_FLOPS: Final[tuple[tuple[str, float], ...]] = (
    ("H200", 989.5e12),
    ("GH200", 989.5e12),
    ("H100 PCIe", 756.0e12),
    ("H100", 989.5e12),
    ("H800", 989.5e12),
    ("B200", 2250e12),
    ("A100", 312e12),
    ("A800", 312e12),
    ("L40S", 362e12),
)

#: Set this to the device's peak FLOP/s (e.g. 989.5e12) to get MFU on an unlisted device.
PEAK_FLOPS_ENV: Final = "HPDREAM_PEAK_FLOPS"

#: ``0`` or ``1``: force torch.compile off or on (e.g. on to try the CUDA code path on a CPU).
COMPILE_ENV: Final = "HPDREAM_COMPILE"

#: ``bfloat16`` or ``float32``: force the matmul dtype (autocast) instead of the device's default.
DTYPE_ENV: Final = "HPDREAM_DTYPE"


class DeviceError(HpdreamError):
    """A device that was asked for is missing, or its name is not one we know."""


def check_device_name(requested: str | None) -> str | None:
    """Validate the spelling of a device request without importing torch."""
    if requested is None or requested == "auto":
        return None
    name = requested.strip().lower()
    if not _DEVICE.match(name):
        raise DeviceError(f"unknown device {requested!r}: use cuda, cuda:N, mps or cpu")
    return name


def resolve_device(requested: str | None) -> torch.device:
    """The device to train on: ``requested``, or the best available (cuda, mps, cpu).

    A requested device that this machine lacks raises :class:`DeviceError`.
    """
    import torch

    name = check_device_name(requested)
    if name is None:
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            why = (
                "torch was built without CUDA"
                if torch.version.cuda is None
                else "no CUDA GPU is visible"
            )
            raise DeviceError(f"device {name} was requested but {why} (torch {torch.__version__})")
        index = int(name.split(":")[1]) if ":" in name else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise DeviceError(
                f"device {name} was requested but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
        return torch.device("cuda", index)
    if name == "mps":
        if not torch.backends.mps.is_available():
            why = (
                "this torch was built without MPS"
                if not torch.backends.mps.is_built()
                else "MPS is not available on this machine (Apple Silicon and macOS 12.3+ needed)"
            )
            raise DeviceError(f"device mps was requested but {why}")
        return torch.device("mps")
    return torch.device("cpu")


@attrs.frozen
class DeviceSetup:
    """How a run uses its device (see the module docstring)."""

    device: torch.device
    name: str  # human-readable: the GPU's model, or the CPU
    fast_dtype: torch.dtype  # dtype of the matmuls (autocast) and of the embedding tables
    compile: bool  # torch.compile the model and optimiser step
    reason: str  # why this dtype and compile choice, for the log
    peak_flops: float | None  # dense bf16 peak FLOP/s, for MFU; None when unknown

    @property
    def type(self) -> str:
        return self.device.type

    def describe(self) -> str:
        peak = f"{self.peak_flops / 1e12:.1f} TFLOP/s" if self.peak_flops else "unknown"
        return (
            f"device: {self.device} ({self.name}); dtype {str(self.fast_dtype).removeprefix('torch.')}, "
            f"compile {'on' if self.compile else 'off'}: {self.reason}; peak bf16 {peak}"
        )


def setup_device(requested: str | None, environ: Mapping[str, str] | None = None) -> DeviceSetup:
    """Resolve the device and decide precision and compilation for it.

    ``HPDREAM_COMPILE`` and ``HPDREAM_DTYPE`` in ``environ`` (default: the
    process environment) override the choice (see their constants).
    """
    environ = os.environ if environ is None else environ
    setup = _default_setup(requested, environ)
    compile_env = environ.get(COMPILE_ENV, "").strip()
    dtype_env = environ.get(DTYPE_ENV, "").strip().lower()
    forced: list[str] = []
    if compile_env:
        if compile_env not in {"0", "1"}:
            raise DeviceError(f"{COMPILE_ENV}={compile_env!r}: use 0 or 1")
        setup = attrs.evolve(setup, compile=compile_env == "1")
        forced.append(f"{COMPILE_ENV}={compile_env}")
    if dtype_env:
        import torch

        dtypes = {"bfloat16": torch.bfloat16, "float32": torch.float32}
        if dtype_env not in dtypes:
            raise DeviceError(f"{DTYPE_ENV}={dtype_env!r}: use bfloat16 or float32")
        setup = attrs.evolve(setup, fast_dtype=dtypes[dtype_env])
        forced.append(f"{DTYPE_ENV}={dtype_env}")
    if forced:
        reason = f"set by {', '.join(forced)} (this device's default: {setup.reason})"
        setup = attrs.evolve(setup, reason=reason)
    return setup


def _default_setup(requested: str | None, environ: Mapping[str, str]) -> DeviceSetup:
    import torch

    device = resolve_device(requested)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        major, _ = torch.cuda.get_device_capability(device)
        if major >= 8:
            fast, reason = torch.bfloat16, "bfloat16 autocast on tensor cores"
        else:
            fast, reason = (
                torch.float32,
                f"float32: compute capability {major}.x lacks fast bfloat16",
            )
        return DeviceSetup(
            device, name, fast, True, reason + ", torch.compile", _peak_flops(name, environ)
        )
    if device.type == "mps":
        return DeviceSetup(
            device,
            "Apple GPU (MPS)",
            torch.float32,
            False,
            "float32 and float32 optimiser state (MPS); torch.compile is unreliable on MPS",
            _peak_flops(None, environ),
        )
    cpu = _cpu_name()
    return DeviceSetup(
        device,
        cpu,
        torch.float32,
        False,
        f"float32 on {torch.get_num_threads()} threads; no torch.compile (its start-up costs "
        "more than it saves in short CPU runs)",
        _peak_flops(None, environ),
    )


def _peak_flops(name: str | None, environ: Mapping[str, str]) -> float | None:
    env = environ.get(PEAK_FLOPS_ENV)
    if env:
        try:
            value = float(env)
        except ValueError:
            raise DeviceError(
                f"{PEAK_FLOPS_ENV}={env!r} is not a number (FLOP/s, e.g. 989.5e12)"
            ) from None
        if value > 0:
            return value
    if name is None:
        return None
    for fragment, flops in PEAK_BF16_FLOPS:
        if fragment in name:
            return flops
    return None


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return sys.platform + " CPU"


def synchronize(device: torch.device) -> None:
    """Wait until the device has finished its queued work."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def peak_memory_mb(device: torch.device) -> float | None:
    """Peak device memory allocated by torch, in MiB (None on the CPU)."""
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    if device.type == "mps":
        return torch.mps.driver_allocated_memory() / 2**20
    return None


def peak_rss_mb() -> float:
    """Peak resident memory of this process, in MiB."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024
