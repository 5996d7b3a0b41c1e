"""Devices and memory: where a network lives and whether it fits."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from encephagen.errors import ConfigError


def resolve_device(device: str | torch.device) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; ``cuda`` without CUDA is a :class:`ConfigError`."""
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError.at(
                "brain.device",
                "is 'cuda' but this PyTorch build or machine has no CUDA device; use device: auto or cpu",
            )
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ConfigError.at("brain.device", f"must be auto, cpu or cuda, got {name!r}")


def available_bytes(device: torch.device) -> int | None:
    """Free memory on ``device`` in bytes, or ``None`` when it cannot be read."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    meminfo = Path("/proc/meminfo")
    lines = meminfo.read_text(encoding="ascii").splitlines() if meminfo.is_file() else []
    available = [int(line.split()[1]) * 1024 for line in lines if line.startswith("MemAvailable:")]
    if available:
        return available[0]
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(n: float) -> str:
    """``1.5 GiB`` style."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"


def tensor_bytes(*tensors: torch.Tensor | None) -> int:
    """Total bytes held by ``tensors`` (``None`` counts 0)."""
    return sum(t.numel() * t.element_size() for t in tensors if t is not None)
