"""Device choice: what is asked for or the best available; precision and compilation per device."""

from __future__ import annotations

import pytest
import torch

from hpdream_runner.training import DeviceError, resolve_device
from hpdream_runner.training._device import (
    PEAK_BF16_FLOPS,
    check_device_name,
    peak_memory_mb,
    peak_rss_mb,
    setup_device,
)


def test_device_names_are_checked_without_torch() -> None:
    assert check_device_name(None) is None and check_device_name("auto") is None
    assert check_device_name(" CUDA:1 ") == "cuda:1"
    for bad in ["gpu", "cuda:", "cuda:x", "tpu", ""]:
        with pytest.raises(DeviceError, match="unknown device"):
            check_device_name(bad)


def test_best_available_and_cpu() -> None:
    expected = (
        "cuda"
        if torch.cuda.is_available()
        else "mps"
        if torch.backends.mps.is_available()
        else "cpu"
    )
    assert resolve_device(None).type == expected
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_requested_gpu_that_is_missing_is_an_error() -> None:
    with pytest.raises(DeviceError, match=r"device cuda:0 was requested but .*torch"):
        resolve_device("cuda:0")


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has MPS")
def test_a_requested_mps_that_is_missing_is_an_error() -> None:
    with pytest.raises(DeviceError, match="device mps was requested but"):
        resolve_device("mps")


def test_cpu_setup_is_float32_without_compile_and_says_why() -> None:
    setup = setup_device("cpu", environ={})
    assert setup.fast_dtype == torch.float32 and not setup.compile
    assert setup.peak_flops is None
    text = setup.describe()
    assert "dtype float32" in text and "compile off" in text and "no torch.compile" in text


def test_environment_overrides_compile_dtype_and_peak() -> None:
    env = {"HPDREAM_COMPILE": "1", "HPDREAM_DTYPE": "bfloat16", "HPDREAM_PEAK_FLOPS": "1e12"}
    setup = setup_device("cpu", environ=env)
    assert setup.compile and setup.fast_dtype == torch.bfloat16 and setup.peak_flops == 1e12
    assert setup.reason.startswith(
        "set by HPDREAM_COMPILE=1, HPDREAM_DTYPE=bfloat16 (this device's default:"
    )
    for key, value, message in [
        ("HPDREAM_COMPILE", "yes", "use 0 or 1"),
        ("HPDREAM_DTYPE", "fp8", "use bfloat16 or float32"),
        ("HPDREAM_PEAK_FLOPS", "lots", "is not a number"),
    ]:
        with pytest.raises(DeviceError, match=message):
            setup_device("cpu", environ={key: value})


def test_peak_flops_table_and_memory_figures() -> None:
    table = dict(PEAK_BF16_FLOPS)
    assert table["H100"] == table["H200"] == 989.5e12
    # a more specific name comes before the fragment it contains
    names = [name for name, _ in PEAK_BF16_FLOPS]
    assert names.index("H100 PCIe") < names.index("H100")
    assert peak_memory_mb(torch.device("cpu")) is None
    assert peak_rss_mb() > 10
