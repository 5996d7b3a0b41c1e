"""What every built-in connectome source shares: field errors, matrix checks, the size cap, the dense-matrix memory check."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from encephagen.connectome import Connectome
from encephagen.errors import DataError


def field_error(field: str, message: str) -> DataError:
    """A :class:`DataError` at ``connectome.<field>``."""
    return DataError.at(f"connectome.{field}" if field else "connectome", message)


def check_matrix(a: Any, field: str, what: str, missing_ok: bool = False) -> np.ndarray:
    """``a`` as a float64 square, finite, non-negative matrix, or a DataError at ``field``.

    :param missing_ok: let ``NaN`` through (a tract length that was not measured); inf is still refused.
    """
    arr = np.asarray(a)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise field_error(field, f"{what} must be numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise field_error(field, f"{what} must be real numbers, got complex values")
    arr = arr.astype(np.float64)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise field_error(field, f"{what} must be a non-empty square matrix, got shape {arr.shape}")
    bad = np.isinf(arr) if missing_ok else ~np.isfinite(arr)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise field_error(field, f"{what} have {int(bad.sum())} {'inf' if missing_ok else 'NaN/inf'} entries (first at [{i}, {j}]); replace them with numbers")
    neg = arr < 0  # NaN compares false
    if neg.any():
        i, j = np.argwhere(neg)[0]
        raise field_error(field, f"{what} have {int(neg.sum())} negative entries (first at [{i}, {j}]); connection data must be >= 0")
    return arr


def unmeasured_as_missing(tract: np.ndarray | None) -> np.ndarray | None:
    """Tract lengths (mm) with every off-diagonal 0 turned into ``NaN``: not measured.

    TVB-style data sets and tractography tools write 0 for a pair no tract was
    measured between; two distinct regions are never 0 mm apart, so a 0 there
    is a missing value, not a length. The diagonal is left as it is.
    """
    if tract is None:
        return None
    out = np.array(tract, dtype=np.float64, copy=True)
    zero = out == 0
    np.fill_diagonal(zero, False)
    out[zero] = np.nan
    return out


def build(field_prefix: str = "", **kwargs: Any) -> Connectome:
    """A Connectome; its own validation errors are reported under ``connectome.``."""
    try:
        return Connectome(**kwargs)
    except DataError as e:
        raise e.prefixed(f"connectome{field_prefix}") from None


def default_labels(n: int) -> tuple[str, ...]:
    width = max(2, len(str(n - 1)))
    return tuple(f"R{i:0{width}d}" for i in range(n))


def sha256_of(p: Path) -> str:
    """The SHA-256 of the file ``p`` (hex), read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def path_str(p: Any) -> Any:
    """``os.PathLike`` -> ``str``; anything else is left for the validator to reject."""
    return os.fspath(p) if isinstance(p, os.PathLike) else p


#: The most bytes one data file (or archive member) may take once read or decompressed.
MAX_DATA_BYTES = 1 << 30


def check_size(nbytes: int, what: str, field: str) -> None:
    """Refuse data whose declared size exceeds :data:`MAX_DATA_BYTES`, before anything is read."""
    if nbytes > MAX_DATA_BYTES:
        raise field_error(
            field, f"{what} would take {nbytes / 2**20:,.0f} MiB once read, more than the {MAX_DATA_BYTES / 2**20:,.0f} MiB a connectome file may hold"
        )


def available_memory() -> int | None:
    """Bytes of memory this machine has available now, or ``None`` when that cannot be read."""
    import torch

    from encephagen.engine.memory import available_bytes

    return available_bytes(torch.device("cpu"))


def check_dense(n: int, matrices: int, what: str, field: str) -> None:
    """Refuse ``matrices`` dense ``(n, n)`` float64 matrices that would not fit in :func:`available_memory`, before any is allocated.

    A :class:`~encephagen.connectome.Connectome` holds each as ``n * n * 8``
    bytes, and twice while it is built (the reader's array and the
    Connectome's own frozen copy); that is what is compared.
    """
    from encephagen.engine.memory import format_bytes

    held = n * n * 8 * matrices
    need = 2 * held
    free = available_memory()
    if free is not None and need > free:
        what_held = "weight matrix" if matrices == 1 else "weight and gap-junction matrices"
        raise field_error(
            field,
            f"{what}: the dense ({n:,}, {n:,}) float64 {what_held} a connectome holds for {n:,} neurons take {format_bytes(held)} "
            f"(n*n*8 bytes each), {format_bytes(need)} while built (two copies), more than the {format_bytes(free)} available; "
            "hold it sparse instead (storage: sparse, what a list of more than 4,096 neurons gets by default; see docs/performance.md)",
        )
