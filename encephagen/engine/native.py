"""A small C loop for event-driven propagation on the CPU (optional).

Step 8 on the CPU walks the CSR rows of the neurons that spiked and adds
each synapse's weight into the ring buffer of future input. The same walk in
numpy needs a dozen array operations per step whose fixed costs dominate at
the reference size; this loop does it in one pass, in the same order (by
presynaptic neuron, then by synapse), so the float sums are identical.

The library is compiled once with the system C compiler (``$CC``, else
``cc``) into a per-user cache directory and loaded with :mod:`ctypes`.
Without a compiler the engine uses its numpy path; results are the same
either way (this is tested).
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
from pathlib import Path

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
_LIB: ctypes.CDLL | None = None
_TRIED = False


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "encephagen"


def _build() -> ctypes.CDLL | None:
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")
    if cc is None or sys.platform == "win32":
        log.info("no C compiler found; the engine propagates spikes with numpy")
        return None
    tag = hashlib.sha256((SOURCE + cc).encode()).hexdigest()[:16]
    for folder in (_cache_dir(), Path(tempfile.gettempdir()) / f"encephagen-{os.getuid() if hasattr(os, 'getuid') else 0}"):
        lib = folder / f"propagate-{tag}.so"
        try:
            if not lib.exists():
                folder.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryDirectory(dir=folder) as tmp:
                    src = Path(tmp) / "propagate.c"
                    src.write_text(SOURCE)
                    out = Path(tmp) / "propagate.so"
                    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(out), str(src)],
                                   check=True, capture_output=True, timeout=120)
                    os.replace(out, lib)  # atomic: concurrent builders agree
            dll = ctypes.CDLL(str(lib))
        except (OSError, subprocess.SubprocessError) as exc:
            log.info("could not build the propagation loop in %s (%s)", folder, exc)
            continue
        fn = dll.encephagen_propagate
        fn.restype = ctypes.c_int64
        fn.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                       ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                       ctypes.c_int64, ctypes.c_void_p]
        return dll
    return None


def library() -> ctypes.CDLL | None:
    """The compiled library, or ``None`` (no compiler, or ``ENCEPHAGEN_NO_NATIVE`` is set)."""
    global _LIB, _TRIED
    if os.environ.get("ENCEPHAGEN_NO_NATIVE"):
        return None
    if not _TRIED:
        _TRIED = True
        _LIB = _build()
    return _LIB
