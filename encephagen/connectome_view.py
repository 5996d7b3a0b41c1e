"""Look at a connectome: a plain-text summary, an ``.npz`` export, source specs, surrogate distances.

``describe`` is what ``encephagen connectome show`` prints; ``export_npz`` writes the
matrix as encephagen uses it (rows = sources) for other tools, with the history of
a surrogate (:class:`SurrogateDraw`); ``parse_source_spec`` reads the
``kind:dataset`` shorthand (``tvb:connectivity_96``); ``distance_rows`` is the
"surrogate vs connectome" table of the report and of ``encephagen connectome export``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from encephagen.connectome import Connectome, diagonal, entries
from encephagen.errors import ConfigError, DataError


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def describe(connectome: Connectome) -> str:
    """A multi-line, human-readable summary of ``connectome``.

    Lists regions, between-region edges (self-loops excluded) and density over
    the ``n(n-1)`` ordered pairs, self-loops, the weight range, whether the
    matrix is symmetric (and how many edges are one-way), orientation,
    positions and tract lengths (mm; how many pairs were not measured), every group with its size and first
    labels, provenance and the null-model history. A neuron-level connectome
    (``resolution: neurons``) is described in neurons, with its gap junctions
    (each counted once), signs and number of cell classes.
    """
    c = connectome
    n = c.n_regions
    b = c.between
    edges = c.n_edges
    pairs = n * (n - 1)
    density = edges / pairs if pairs else 0.0
    nz = entries(c.weights)[2]
    if nz.size:
        srt = np.sort(nz)
        values = srt[np.concatenate([[True], srt[1:] != srt[:-1]])]  # distinct values (np.unique, without its hashing)
        wr = f"{_fmt(nz.min())} to {_fmt(nz.max())} (non-zero entries)"
        if values.size <= 8:
            wr += "; values " + ", ".join(_fmt(x) for x in values)
    else:
        wr = "all zero"
    src, dst, _ = c.edges()
    one_way = int(np.count_nonzero(~np.isin(src * n + dst, dst * n + src)))
    if c.is_symmetric:
        sym = "yes"
    else:
        share = f", {100 * one_way / edges:.1f}%" if edges else ""
        sym = f"no ({one_way} of {edges} between-region edges have no reverse edge{share})"
    if c.tract_lengths is None:
        tract = "none"
    else:
        a = b != 0
        t = c.tract_lengths[a]
        t = t[~np.isnan(t)]
        tract = f"{_fmt(t.min())} to {_fmt(t.max())} mm over the edges" if t.size else "none over the edges"
        missing = c.unmeasured
        if missing.any():
            tract += f"; {int(missing.sum())} pairs not measured ({int((missing & a).sum())} of them edges)"
        if c.filled_lengths is not None:
            tract += f"; {int(c.filled_lengths.sum())} filled from centre distances"
    if c.resolution == "neurons":
        rows = [
            ("connectome", c.name),
            ("neurons", f"{n} (one node per neuron)"),
            ("edges", f"{edges} chemical connections between neurons (density {density:.4f} of {pairs} ordered pairs)"),
            ("self-loops", f"{c.n_self_loops} (autapses, ignored by the wiring)"),
            ("weights", f"{wr}; {_fmt(float(b.sum()))} in all"),
            *_neuron_rows(c),
            ("symmetric", sym.replace("between-region", "chemical")),
            ("orientation", c.orientation),
        ]
    else:
        rows = [
            ("connectome", c.name),
            ("regions", str(n)),
            ("edges", f"{edges} between regions (density {density:.4f} of {pairs} ordered pairs)"),
            ("self-loops", f"{c.n_self_loops} (ignored by between-region wiring)"),
            ("weights", wr),
            ("symmetric", sym),
            ("orientation", c.orientation),
        ]
    rows += [
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


def _neuron_rows(c: Connectome) -> list[tuple[str, str]]:
    """The lines a neuron-level connectome adds: gap junctions, signs, cell classes."""
    rows = []
    g = c.gap_junctions
    if g is None:
        rows.append(("gap junctions", "none"))
    else:
        pairs = int(c.gap_pairs()[0].size)
        diag = float(diagonal(g).sum())
        rows.append(("gap junctions", f"{c.n_gap_junctions} between {pairs} pairs of neurons (symmetric)" + (f"; {_fmt(diag)} on the diagonal, ignored" if diag else "")))
    if c.signs is not None:
        s = c.signs
        rows.append(("signs", f"{int((s == 1).sum())} excitatory, {int((s == -1).sum())} inhibitory, {int((s == 0).sum())} unknown"))
    if c.cell_classes is not None:
        rows.append(("cell classes", f"{len(set(c.cell_classes))}"))
    return rows


def export_npz(connectome: Connectome, path: str | os.PathLike[str], history: Sequence[SurrogateDraw] = ()) -> Path:
    """Write ``connectome`` to ``path`` exactly (no suffix is added).

    Arrays: ``weights`` ``(n, n)`` float64, rows = sources; ``labels`` ``(n,)``
    unicode; ``positions`` ``(n, 3)`` mm and ``tract_lengths`` ``(n, n)`` mm,
    rows = sources, when present; ``history``, a JSON string of the null-model
    draws that made it, oldest first (:meth:`SurrogateDraw.as_dict`), when
    ``history`` is given. Readable with ``numpy.load(path, allow_pickle=False)``
    (``json.loads(str(z["history"]))``) and by the ``file`` connectome source.

    :returns: the path written.
    """
    if connectome.is_sparse:
        raise DataError.at(
            "connectome", f"{connectome.name!r} is stored sparse ({connectome.n_regions:,} neurons); export writes dense "
            "(n, n) matrices, which it would not fit; keep its edge list instead"
        )
    p = Path(path)
    arrays: dict[str, np.ndarray] = {
        "weights": np.asarray(connectome.weights, dtype=np.float64),
        "labels": np.array(connectome.labels, dtype=str),
    }
    if connectome.positions is not None:
        arrays["positions"] = np.asarray(connectome.positions, dtype=np.float64)
    if connectome.tract_lengths is not None:
        arrays["tract_lengths"] = np.asarray(connectome.tract_lengths, dtype=np.float64)
    if history:
        arrays["history"] = np.array(json.dumps([d.as_dict() for d in history], sort_keys=True))
    with open(p, "wb") as f:
        np.savez(f, **arrays)
    return p


@attrs.frozen
class SurrogateDraw:
    """How a surrogate was drawn: enough to draw it again.

    ``model`` with ``parameters`` applied to connectome ``connectome`` with
    ``numpy.random.default_rng(seed)`` gives the surrogate again (what
    ``encephagen connectome export SOURCE --null MODEL --seed SEED`` does).

    :ivar model: the null model's name (its ``kind:``).
    :ivar parameters: its parameters, as a study file writes them.
    :ivar seed: the seed of the generator the draw used.
    :ivar connectome: the name of the connectome it was drawn from.
    :ivar step: the line the model added to the connectome's history.
    """

    model: str
    parameters: Mapping[str, Any] = attrs.field(converter=dict)
    seed: int = attrs.field(converter=int)
    connectome: str
    step: str = ""

    @classmethod
    def of(cls, model: Any, connectome: Connectome, seed: int, surrogate: Connectome) -> SurrogateDraw:
        """The record of ``surrogate = model.randomize(connectome, numpy.random.default_rng(seed))``."""
        from encephagen.study import parameters_of  # what JSON keeps, so a saved record reads back equal

        return cls(model.name, parameters_of(model), seed, connectome.name, surrogate.history[-1] if surrogate.history else "")

    def as_dict(self) -> dict[str, Any]:
        """The record as JSON-ready values (``model, parameters, seed, connectome, step``)."""
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SurrogateDraw:
        """The record :meth:`as_dict` gave."""
        return cls(**data)

    @property
    def parameters_text(self) -> str:
        """``swaps_per_edge=10.0, variant=auto, gap_junctions=keep`` (``-`` when there are none)."""
        return ", ".join(f"{k}={v}" for k, v in self.parameters.items()) or "-"


#: The columns of the "surrogate vs connectome" table (:func:`distance_rows`).
DISTANCE_COLUMNS = ("model", "parameters", "seed", "jaccard", "measure", "connectome", "surrogate", "change")


def distance(reference: np.ndarray, surrogate: np.ndarray) -> tuple[float, list[tuple[str, float, float, float]]]:
    """How different ``surrogate`` is from ``reference`` (both ``(n, n)``, rows = sources).

    :returns: the Jaccard overlap of the directed between-region edge sets,
        and ``(measure, of the connectome, of the surrogate, surrogate minus
        connectome)`` per measure of :func:`encephagen.graph_measures.measures`,
        the rich-club level ``k`` set by the connectome
        (:func:`encephagen.graph_measures.rich_club_level`) and used for both.
    """
    from encephagen import graph_measures as gm

    k = gm.rich_club_level(reference)
    ref, sur = gm.measures(reference, k), gm.measures(surrogate, k)
    return gm.jaccard(reference, surrogate), [(name, ref[name], sur[name], sur[name] - ref[name]) for name in ref]


def distance_rows(reference: np.ndarray, surrogate: np.ndarray, draw: SurrogateDraw) -> list[tuple[Any, ...]]:
    """The "surrogate vs connectome" rows of one surrogate (:data:`DISTANCE_COLUMNS`, one per measure; see :func:`distance`)."""
    j, changes = distance(reference, surrogate)
    return [(draw.model, draw.parameters_text, draw.seed, j, *c) for c in changes]


def distance_csv(rows: Sequence[Sequence[Any]]) -> str:
    """``rows`` of :func:`distance_rows` as CSV text with a header; numbers in shortest exact ``repr``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(DISTANCE_COLUMNS)
    w.writerows([repr(float(v)) if isinstance(v, float) else v for v in r] for r in rows)
    return buf.getvalue()


def distance_text(rows: Sequence[Sequence[Any]]) -> str:
    """``rows`` of :func:`distance_rows` (one surrogate) as lines to print: the Jaccard, then a measure per line."""
    model, params, seed, j = rows[0][:4]
    what = model if params == "-" else f"{model} ({params})"
    lines = [f"surrogate vs connectome: {what}, seed {seed}; Jaccard of directed edges {j:.4g}"]
    width = max(len(r[4]) for r in rows)
    lines.append(f"  {'measure':<{width}}  {'connectome':>10}  {'surrogate':>10}  {'change':>10}")
    lines += [f"  {r[4]:<{width}}  {r[5]:>10.4g}  {r[6]:>10.4g}  {r[7]:>+10.4g}" for r in rows]
    return "\n".join(lines)


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
