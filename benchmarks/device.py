"""Device, machine and package versions, recorded in every benchmark's JSON."""

import importlib.metadata
import os
import platform
from pathlib import Path

import jax


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def device_info(packages=("jax", "jaxlib", "equinox", "numpy", "mskdiff")) -> dict:
    """The default JAX device, the machine, and the versions of `packages` (None: absent)."""
    device = jax.devices()[0]
    versions = {}
    for package in packages:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {"platform": device.platform, "devices": [str(d) for d in jax.devices()],
            "device_kind": getattr(device, "device_kind", device.platform),
            "gpu": device.platform != "cpu", "cpu_count": os.cpu_count(), "cpu_model": cpu_model(),
            "machine": platform.machine(), "python": platform.python_version(),
            "versions": versions}
