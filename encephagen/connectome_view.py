"""Look at a connectome: a plain-text summary, an ``.npz`` export, source specs.

``describe`` is what ``encephagen connectome show`` prints; ``export_npz`` writes the
matrix as encephagen uses it (rows = sources) for other tools;
``parse_source_spec`` reads the ``kind:dataset`` shorthand (``tvb:connectivity_96``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from encephagen.connectome import Connectome
from encephagen.errors import ConfigError


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def describe(connectome: Connectome) -> str:
    """A multi-line, human-readable summary of ``connectome``.

    Lists regions, between-region edges (self-loops excluded) and density over
    the ``n(n-1)`` ordered pairs, self-loops, the weight range, whether the
    matrix is symmetric (and how many edges are one-way), orientation,
    positions and tract lengths (mm; how many pairs were not measured), every group with its size and first
    labels, provenance and the null-model history.
    """
    c = connectome
    n = c.n_regions
    b = c.between
    edges = c.n_edges
    pairs = n * (n - 1)
    density = edges / pairs if pairs else 0.0
    nz = c.weights[c.weights != 0]
    if nz.size:
        values = np.unique(nz)
        wr = f"{_fmt(nz.min())} to {_fmt(nz.max())} (non-zero entries)"
        if values.size <= 8:
            wr += "; values " + ", ".join(_fmt(x) for x in values)
    else:
        wr = "all zero"
    a = b != 0
    one_way = int(np.count_nonzero(a & ~a.T))
    if c.is_symmetric:
        sym = "yes"
    else:
        share = f", {100 * one_way / edges:.1f}%" if edges else ""
        sym = f"no ({one_way} of {edges} between-region edges have no reverse edge{share})"
    if c.tract_lengths is None:
        tract = "none"
    else:
        t = c.tract_lengths[a]
        t = t[~np.isnan(t)]
        tract = f"{_fmt(t.min())} to {_fmt(t.max())} mm over the edges" if t.size else "none over the edges"
        missing = c.unmeasured
        if missing.any():
            tract += f"; {int(missing.sum())} pairs not measured ({int((missing & a).sum())} of them edges)"
        if c.filled_lengths is not None:
            tract += f"; {int(c.filled_lengths.sum())} filled from centre distances"
    rows = [
        ("connectome", c.name),
        ("regions", str(n)),
        ("edges", f"{edges} between regions (density {density:.4f} of {pairs} ordered pairs)"),
        ("self-loops", f"{c.n_self_loops} (ignored by between-region wiring)"),
        ("weights", wr),
        ("symmetric", sym),
        ("orientation", c.orientation),
        ("positions", "none" if c.positions is None else f"{n} centres (mm)"),
        ("tract lengths", tract),
        ("groups", "" if c.groups else "none"),
    ]
    lines = [f"{k:<13} {val}".rstrip() for k, val in rows]
    if c.groups:
        width = max(len(g) for g in c.groups)
        for g, idx in c.groups.items():
            first = ", ".join(c.labels[i] for i in idx[:4]) + (", ..." if len(idx) > 4 else "")
            lines.append(f"  {g:<{width}}  {len(idx):>3}  {first}")
    lines.append(f"{'provenance':<13} {c.provenance or 'not stated'}")
    lines.append(f"{'history':<13} " + (" -> ".join(c.history) if c.history else "none (as loaded)"))
    return "\n".join(lines)


def export_npz(connectome: Connectome, path: str | os.PathLike[str]) -> Path:
    """Write ``connectome`` to ``path`` exactly (no suffix is added).

    Arrays: ``weights`` ``(n, n)`` float64, rows = sources; ``labels`` ``(n,)``
    unicode; ``positions`` ``(n, 3)`` mm and ``tract_lengths`` ``(n, n)`` mm,
    rows = sources, when present. Readable with ``numpy.load(path,
    allow_pickle=False)`` and by the ``file`` connectome source.

    :returns: the path written.
    """
    p = Path(path)
    arrays: dict[str, np.ndarray] = {
        "weights": np.asarray(connectome.weights, dtype=np.float64),
        "labels": np.array(connectome.labels, dtype=str),
    }
    if connectome.positions is not None:
        arrays["positions"] = np.asarray(connectome.positions, dtype=np.float64)
    if connectome.tract_lengths is not None:
        arrays["tract_lengths"] = np.asarray(connectome.tract_lengths, dtype=np.float64)
    with open(p, "wb") as f:
        np.savez(f, **arrays)
    return p


_KIND = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_source_spec(spec: str) -> tuple[str, str | None]:
    """Split ``"kind:dataset"`` into ``(kind, dataset)``; ``"kind"`` gives ``(kind, None)``.

    Only the first ``:`` separates, so ``"file:data/w.npy"`` gives
    ``("file", "data/w.npy")``.

    :raises ConfigError: an empty spec, a kind that is not a name, or an empty
        part after ``:``.
    """
    text = spec.strip() if isinstance(spec, str) else ""
    if not text:
        raise ConfigError.at("connectome", f"empty connectome spec {spec!r}; write e.g. 'tvb:connectivity_96' or 'synthetic'")
    kind, sep, rest = text.partition(":")
    kind, rest = kind.strip(), rest.strip()
    if not _KIND.match(kind):
        raise ConfigError.at("connectome", f"{kind!r} in {spec!r} is not a connectome source name; write e.g. 'tvb:connectivity_96'")
    if sep and not rest:
        raise ConfigError.at("connectome", f"nothing after ':' in {spec!r}; write e.g. 'tvb:connectivity_96' or just '{kind}'")
    return kind, (rest if sep else None)
