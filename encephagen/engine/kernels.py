"""Fusing the elementwise neuron update into one compiled kernel.

The step function is traced once with ``make_fx`` and handed to TorchInductor,
which emits one vectorised loop (C++ on CPU, Triton on CUDA) that reads every
state array once and writes it back in place. Calling the compiled graph
directly skips TorchDynamo's per-call guard checks, which would otherwise
cost more than the kernel itself at these sizes.

Before a compiled kernel is used it is run once on copies of its inputs and
compared with the eager function; any failure or difference falls back to
eager execution, and :class:`Fused` records why. On the CPU the same
arithmetic runs either way, bit for bit, so results do not depend on
whether compilation succeeded (this is tested); GPU compilers fuse
multiply-adds, so there the two agree to rounding.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import attrs
import torch

log = logging.getLogger(__name__)

#: CPU kernels over fewer elements than this run on one thread.
_PARALLEL_MIN = 1 << 18
#: Compiled kernels of this process, by key.
_CACHE: dict[Hashable, Callable[..., Any]] = {}


@attrs.define
class Fused:
    """A step function and how it runs.

    :ivar fn: the callable (compiled or eager); mutates its state arguments.
    :ivar compiled: whether ``fn`` is the compiled kernel.
    :ivar seconds: time spent tracing and compiling (0 when cached or eager).
    :ivar reason: why it runs eagerly, when it does.
    """

    fn: Callable[..., Any]
    compiled: bool
    seconds: float = 0.0
    reason: str = ""


def _clone(args: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [a.clone() for a in args]


def _same(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> bool:
    """Bit for bit on the CPU (C++ compiled without contraction). GPU code generators
    fuse multiply-adds, so there floats may differ by rounding; integers must match."""
    for x, y in zip(a, b):
        if x.device.type == "cpu" or not x.is_floating_point():
            if not torch.equal(x, y):
                return False
        elif not torch.allclose(x, y, rtol=1e-5, atol=1e-5):
            return False
    return True


def fuse(
    fn: Callable[..., None],
    args: Sequence[torch.Tensor],
    key: Hashable,
    mode: bool | str = "auto",
    fallback: Callable[..., None] | None = None,
) -> Fused:
    """Compile ``fn`` (which mutates some of ``args`` in place and returns ``None``).

    :param fn: a function of tensors only, elementwise, no data-dependent control flow.
    :param args: example arguments with the real shapes, dtypes and device (not modified).
    :param key: identifies the traced graph (shapes, constants); reused across calls.
    :param mode: ``False`` (eager), ``True`` (compile; fail loudly) or
        ``"auto"`` (compile; fall back to eager with a log message).
    :param fallback: the eager form to run instead of ``fn`` (same results,
        e.g. with fewer operations); default ``fn``.
    """
    eager = fallback if fallback is not None else fn
    if mode is False:
        return Fused(eager, compiled=False, reason="compilation switched off")
    full_key = (key, tuple((tuple(a.shape), a.dtype, str(a.device)) for a in args))
    if full_key in _CACHE:
        return Fused(_CACHE[full_key], compiled=True)
    t0 = time.perf_counter()
    try:
        compiled = _compile(fn, args)
        got, want = _clone(args), _clone(args)
        compiled(*got)
        eager(*want)
        if not _same(got, want):
            raise RuntimeError("the compiled kernel's results differ from eager execution")
    except Exception as exc:  # noqa: BLE001 - any compiler failure means: run eagerly
        if mode is True:
            raise
        reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        log.warning("running the neuron update eagerly (slower): %s", reason)
        return Fused(eager, compiled=False, seconds=time.perf_counter() - t0, reason=reason)
    _CACHE[full_key] = compiled
    return Fused(compiled, compiled=True, seconds=time.perf_counter() - t0)


def _compile(fn: Callable[..., None], args: Sequence[torch.Tensor]) -> Callable[..., Any]:
    with warnings.catch_warnings():  # the compiler stack imports deprecated modules
        warnings.simplefilter("ignore", DeprecationWarning)
        from torch._inductor import config as inductor_config
        from torch._inductor.compile_fx import compile_fx
        from torch.fx.experimental.proxy_tensor import make_fx

    gm = make_fx(fn)(*_clone(args))
    patch: dict[str, Any] = {}
    if args and args[0].device.type == "cpu" and args[0].numel() < _PARALLEL_MIN:
        # One thread: at these sizes OpenMP's fork/join costs more than it
        # saves, and it stalls badly when other processes share the cores.
        patch["cpp.threads"] = 1
    with inductor_config.patch(patch):
        return compile_fx(gm, _clone(args))
