"""What produced a result: package versions and the CPU's instruction sets, for every report."""

from __future__ import annotations

import hashlib
import platform
from importlib import metadata
from pathlib import Path

import quantflow

PACKAGES = ("openvino", "nncf", "numpy", "pycocotools", "opencv-python-headless", "pydantic", "tensorflow-cpu",
            "ai-edge-litert", "torch", "onnx2tf")
ISA_FLAGS = {"avx2": "avx2", "avx512f": "avx512", "avx512_vnni": "avx512_vnni", "avx_vnni": "avx_vnni",
             "amx_tile": "amx", "amx_int8": "amx_int8"}


def versions() -> dict[str, str]:
    """Versions of the packages that are installed (the optional ones may not be: a report without `tensorflow`
    comes from an environment without it), read from package metadata so nothing heavy is imported."""
    found = {"quantflow": quantflow.__version__, "python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def versions_text(found: dict[str, str | None]) -> str:
    """`quantflow 0.1.0, openvino 2026.4.1, ...` for the packages that are installed (zoo manifests written
    before may name missing ones as null)."""
    return ", ".join(f"{name} {version}" for name, version in found.items() if version)


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in blocks so large weights do not sit in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cpu_info() -> dict:
    """CPU model and the ISA flags INT8 speed depends on (VNNI/AMX make INT8 fast; AVX2 alone much less)."""
    model, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    isa = {label: flag in flags for flag, label in ISA_FLAGS.items()}
    isa["vnni"] = isa["avx512_vnni"] or isa["avx_vnni"]
    return {"model": model, "machine": platform.machine(), "isa": isa}


def host_name() -> str:
    """The machine something ran on, as cards and progress rows name it (zoo entries built on a cluster)."""
    return platform.node()
