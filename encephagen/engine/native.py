"""A small C loop for event-driven propagation on the CPU (optional).

Step 8 on the CPU walks the CSR rows of the neurons that spiked and adds
each synapse's weight into the ring buffer of future input. The same walk in
numpy needs a dozen array operations per step whose fixed costs dominate at
the reference size; this loop does it in one pass, in the same order (by
presynaptic neuron, then by synapse), so the float sums are identical.

The library is compiled once with the system C compiler (``$CC``, else
``cc``) into a per-user cache directory and loaded with :mod:`ctypes`.
Without a compiler the engine uses its numpy path; results are the same
either way (this is tested). :func:`build` does the same for other small C
loops (the e-prop learner's block flush uses it).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SOURCE = r"""
#include <stdint.h>
#include <string.h>

/* One row's delayed targets, for a delay array of element type T. */
#define DELAYED_ROW(T) {                                                   \
        const T *d = (const T *)delay;                                     \
        for (int64_t e = row_ptr[i]; e < e1; e++) {                        \
            int64_t slot = now + (int64_t)d[e]; /* delay < slots: one wrap at most */ \
            if (slot >= slots) slot -= slots;                              \
            ring[slot * width + post[e]] += weight[e];                     \
        }                                                                  \
    }

/* Adds the outgoing weights of every neuron i with spikes[i] != 0 into ring, in CSR order,
   and counts the spike in counts[i]. Target of synapse e: ring[((t + delay[e]) % slots) * width
   + post[e]]; delay holds delay_bytes-byte integers (1: uint8, 2: int16, 4: int32), or is NULL:
   then slot t % slots. Returns the number of spiking neurons. */
int64_t encephagen_propagate(const uint8_t *spikes, int64_t n, const int64_t *row_ptr,
                             const int32_t *post, const float *weight, const void *delay,
                             int64_t delay_bytes, float *ring, int64_t width, int64_t slots,
                             int64_t t, int32_t *counts)
{
    int64_t k = 0;
    int64_t now = t % slots;
    float *base = ring + now * width;
    for (int64_t i = 0; i < n; ) {
        if (i + 8 <= n) {
            uint64_t word;
            memcpy(&word, spikes + i, 8);
            if (word == 0) { i += 8; continue; }
        }
        if (spikes[i]) {
            k++;
            counts[i]++;
            int64_t e1 = row_ptr[i + 1];
            if (!delay) {
                for (int64_t e = row_ptr[i]; e < e1; e++)
                    base[post[e]] += weight[e];
            } else if (delay_bytes == 1) DELAYED_ROW(uint8_t)
            else if (delay_bytes == 2) DELAYED_ROW(int16_t)
            else DELAYED_ROW(int32_t)
        }
        i++;
    }
    return k;
}
"""
#: ctypes signature of the propagation loop.
_PROPAGATE = (ctypes.c_int64, [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                               ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                               ctypes.c_int64, ctypes.c_void_p])
#: Compiler flags. No floating-point contraction: every ``a * b + c`` rounds twice, as torch's CPU kernels do.
FLAGS = ("-O2", "-shared", "-fPIC", "-ffp-contract=off")
#: Built libraries of this process by name (``None``: could not be built).
_BUILT: dict[str, ctypes.CDLL | None] = {}


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "encephagen"


def _build(name: str, source: str, functions: Mapping[str, tuple[Any, list[Any]]]) -> ctypes.CDLL | None:
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")
    if cc is None or sys.platform == "win32":
        log.info("no C compiler found; %s runs in torch/numpy", name)
        return None
    tag = hashlib.sha256("\0".join((source, cc, *FLAGS)).encode()).hexdigest()[:16]
    for folder in (_cache_dir(), Path(tempfile.gettempdir()) / f"encephagen-{os.getuid() if hasattr(os, 'getuid') else 0}"):
        lib = folder / f"{name}-{tag}.so"
        try:
            if not lib.exists():
                folder.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryDirectory(dir=folder) as tmp:
                    src = Path(tmp) / f"{name}.c"
                    src.write_text(source)
                    out = Path(tmp) / f"{name}.so"
                    subprocess.run([cc, *FLAGS, "-o", str(out), str(src)], check=True, capture_output=True, timeout=120)
                    os.replace(out, lib)  # atomic: concurrent builders agree
            dll = ctypes.CDLL(str(lib))
            for fname, (restype, argtypes) in functions.items():
                fn = getattr(dll, fname)
                fn.restype, fn.argtypes = restype, argtypes
        except (OSError, AttributeError, subprocess.SubprocessError) as exc:
            log.info("could not build %s in %s (%s)", name, folder, exc)
            continue
        return dll
    return None


def switched_off(name: str) -> bool:
    """Whether ``ENCEPHAGEN_NO_NATIVE`` switches library ``name`` off (``1``, ``true``, ``yes`` or ``all``:
    every library; otherwise a comma-separated list of names)."""
    off = os.environ.get("ENCEPHAGEN_NO_NATIVE", "").strip()
    return bool(off) and (off.lower() in ("1", "true", "yes", "all") or name in {x.strip() for x in off.split(",")})


def build(name: str, source: str, functions: Mapping[str, tuple[Any, list[Any]]]) -> ctypes.CDLL | None:
    """Compile C ``source`` once into a shared library and load it, or ``None``.

    :param name: the library's name (a file name stem; one source per name in a process).
    :param functions: exported function name -> ``(restype, argtypes)`` for :mod:`ctypes`.
    :returns: ``None`` without a C compiler, when the build fails, or when
        ``ENCEPHAGEN_NO_NATIVE`` switches it off (``1``: every library; a
        comma-separated list of names, e.g. ``fold``: those); callers then use
        their torch or numpy path, which gives the same results.
    """
    if switched_off(name):
        return None
    if name not in _BUILT:
        _BUILT[name] = _build(name, source, functions)
    return _BUILT[name]


def library() -> ctypes.CDLL | None:
    """The propagation library (``encephagen_propagate``), or ``None``."""
    return build("propagate", SOURCE, {"encephagen_propagate": _PROPAGATE})
