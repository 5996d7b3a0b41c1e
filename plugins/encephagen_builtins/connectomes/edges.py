"""Edge lists: a neuron-level connectome as rows ``pre, post, weight[, sign]`` (CSV, or Parquet with ``pyarrow``).

The format (``docs/celegans.md``, "A neuron-level connectome of your own"):

- a header row names the columns, in any order, case-insensitive; other
  columns are ignored; CSV cells are separated by commas (or tabs);
- ``pre``, ``post``: neuron names or integer ids (a chemical synapse
  ``pre -> post``); ``weight``: a finite number ``>= 0``, the synapse count
  (or whatever unit the data counts in); rows of the same ``(pre, post)``
  are summed; a row with ``pre == post`` (an autapse) is kept on the
  diagonal, as the ``celegans`` source keeps it (a cellular brain leaves
  autapses out);
- ``sign`` (optional column): the presynaptic neuron's sign, ``1`` /
  ``excitatory``, ``-1`` / ``inhibitory`` or ``0`` / ``unknown``; every row
  of one presynaptic neuron must give the same sign; a neuron that is never
  presynaptic has sign 0;
- gap junctions (optional, a second file, CSV or Parquet): columns ``a``,
  ``b``, ``count``; a gap junction has no direction, so each pair is listed
  one way only (rows ``a, b`` and ``b, a`` of one pair are refused: they
  would count the same junctions twice if they mirror each other); rows of
  the same pair are summed; ``a == b`` is kept on the diagonal.

Labels: every name seen in either file, sorted (as numbers when every name
is an integer id, else as text), so that the same edges in any row order
give the same connectome. The :class:`~encephagen.connectome.Connectome`
holds dense ``(n, n)`` float64 matrices up to :data:`DENSE_MAX_NEURONS`
neurons (the neurons are counted first and a dense list whose matrices would
not fit in the memory available is refused before any is allocated,
:func:`~encephagen_builtins.connectomes.common.check_dense`) and sparse
matrices above it (``storage: sparse`` or ``dense`` chooses).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import scipy.sparse as sp

from encephagen.connectome import Connectome
from encephagen_builtins.connectomes.common import build, check_dense, field_error, sha256_of
from encephagen_builtins.connectomes.groups import resolve_groups

#: How an edge list's connectome holds its matrices (the ``file`` source's ``storage``).
EDGE_STORAGE = ("auto", "dense", "sparse")

#: Up to this many neurons ``storage: auto`` holds an edge list dense (128 MiB per matrix), sparse above.
DENSE_MAX_NEURONS = 4096

#: Rows converted at a time (the file is streamed; memory grows by about 25 bytes per row).
CHUNK_ROWS = 1 << 16

#: What a ``sign`` cell may say.
SIGN_VALUES: Mapping[str, int] = {"1": 1, "+1": 1, "excitatory": 1, "-1": -1, "inhibitory": -1, "0": 0, "unknown": 0}

#: The most characters a header row is read to.
_HEADER_CHARS = 1 << 20

_CHEMICAL = ("pre", "post", "weight")
_GAP = ("a", "b", "count")


def _delimiter(line: str) -> str:
    return "\t" if "\t" in line and "," not in line else ","


def looks_like_edges(p: Path) -> bool:
    """Whether the text file ``p`` starts with a header row naming ``pre`` and ``post`` columns."""
    try:
        with open(p, encoding="utf-8-sig", newline="") as fh:
            first = fh.readline(_HEADER_CHARS)
        names = {s.strip().lower() for s in next(csv.reader([first], delimiter=_delimiter(first)), [])}
    except (OSError, UnicodeDecodeError, csv.Error):  # a matrix file's long first line is not a header
        return False
    return {"pre", "post"} <= names


@attrs.frozen
class _Rows:
    """The rows of one edge-list file: ids of the names (in ``ids``' first-appearance order), values, signs.

    :ivar where: data row index (0-based) -> ``line N`` (CSV) or ``row N`` (Parquet), for messages.
    """

    a: np.ndarray
    b: np.ndarray
    value: np.ndarray
    sign: np.ndarray | None
    where: Callable[[int], str]

    @property
    def n_rows(self) -> int:
        return int(self.a.size)


def _columns_of(header: Sequence[str], required: tuple[str, ...], p: Path, field: str) -> dict[str, int]:
    names = [str(s).strip().lower() for s in header]
    dup = sorted({s for s in names if s and names.count(s) > 1})
    if dup:
        raise field_error(field, f"'{p.name}' has the column {dup[0]!r} more than once in its header")
    missing = [c for c in required if c not in names]
    if missing:
        raise field_error(
            field, f"'{p.name}' has no {', '.join(missing)} column (its header: {', '.join(names) or 'empty'}); "
            f"an edge list's header row names {', '.join(required)}" + (" and optionally sign" if required == _CHEMICAL else "")
        )
    return {c: i for i, c in enumerate(names)}


def _csv_chunks(p: Path, required: tuple[str, ...], optional: tuple[str, ...], field: str
                ) -> tuple[tuple[str, ...], Iterator[dict[str, Sequence[Any]]], Callable[[int], str]]:
    """The columns present, chunks of them (column -> cells), and where a data row is in the file.

    Blank lines are skipped; cells may be quoted (``"a,b"``).
    """
    with open(p, encoding="utf-8-sig", newline="") as fh:
        first = fh.readline(_HEADER_CHARS)
    if not first.strip():
        what = "is empty" if not first else "starts with a blank line"
        raise field_error(field, f"'{p.name}' {what}; an edge list starts with a header row naming {', '.join(required)}")
    delimiter = _delimiter(first)
    header = next(csv.reader([first], delimiter=delimiter))
    index = _columns_of(header, required, p, field)
    present = (*required, *(c for c in optional if c in index))
    width = len(header)

    def where(k: int) -> str:
        """The line of data row ``k`` (0-based, blank lines not counted), found by reading the file again: only for a message."""
        with open(p, encoding="utf-8-sig", newline="") as again:
            for number, line in enumerate(again, start=1):
                if number > 1 and line.strip():
                    if k == 0:
                        return f"line {number}"
                    k -= 1
        return f"row {k + 1}"

    def chunks() -> Iterator[dict[str, Sequence[Any]]]:
        done = 0
        with open(p, encoding="utf-8-sig", newline="") as fh:
            fh.readline(_HEADER_CHARS)
            while raw := list(islice(fh, CHUNK_ROWS)):
                lines = [line for line in raw if line.strip()]
                if not lines:
                    continue
                try:
                    cells = np.loadtxt(lines, dtype=str, delimiter=delimiter, comments=None, quotechar='"', ndmin=2)
                except ValueError:
                    cells = None
                if cells is None or cells.shape[1] != width:
                    i = next(i for i, line in enumerate(lines) if len(next(csv.reader([line], delimiter=delimiter))) != width)
                    got = len(next(csv.reader([lines[i]], delimiter=delimiter)))
                    raise field_error(
                        field, f"'{p.name}' {where(done + i)} has {got} cells, its header {width}; every row gives a value for every column"
                    )
                done += len(lines)
                yield {c: cells[:, index[c]] for c in present}

    return present, chunks(), where


def _parquet_chunks(p: Path, required: tuple[str, ...], optional: tuple[str, ...], field: str
                    ) -> tuple[tuple[str, ...], Iterator[dict[str, Sequence[Any]]], Callable[[int], str]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise field_error(
            field, f"'{p.name}' is a Parquet file, which needs the package pyarrow (not installed); pip install pyarrow, "
            "or write the edge list as CSV"
        ) from None
    try:
        pf = pq.ParquetFile(p)
        header = pf.schema_arrow.names
    except (ValueError, OSError) as e:
        raise field_error(field, f"'{p.name}' is not a readable Parquet file ({e})") from None
    index = _columns_of(header, required, p, field)
    present = (*required, *(c for c in optional if c in index))

    def chunks() -> Iterator[dict[str, Sequence[Any]]]:
        try:
            for batch in pf.iter_batches(batch_size=CHUNK_ROWS, columns=[header[index[c]] for c in present]):
                yield {c: batch.column(i).to_pylist() for i, c in enumerate(present)}
        except (ValueError, OSError) as e:  # pyarrow's ArrowInvalid is a ValueError
            raise field_error(field, f"'{p.name}' is not a readable Parquet file ({e})") from None

    return present, chunks(), lambda k: f"row {k + 1}"


def _numbers(cells: Sequence[Any], column: str, first_row: int, where: Callable[[int], str], p: Path, field: str) -> np.ndarray:
    """``cells`` (text or numbers) as float64, each finite and ``>= 0``."""
    try:
        x = np.asarray(cells).astype(np.float64)
    except (TypeError, ValueError):
        i = next((i for i, c in enumerate(cells) if not _is_number(c)), None)
        if i is not None:
            raise field_error(field, f"'{p.name}' {where(first_row + i)}: {column} {str(cells[i])!r} is not a number; give a count >= 0") from None
        x = np.fromiter(map(float, cells), np.float64, len(cells))
    bad = ~(np.isfinite(x) & (x >= 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise field_error(field, f"'{p.name}' {where(first_row + i)}: {column} is {str(cells[i]).strip()!r}; it must be a finite number >= 0 (a count)")
    return x


def _is_number(c: Any) -> bool:
    try:
        float(c)
    except (TypeError, ValueError):
        return False
    return True


def _cells(column: Sequence[Any]) -> list[Any]:
    """A column as Python values (text cells as ``str``), for the dict lookups of :class:`_Ids` and :class:`_Signs`."""
    return column.tolist() if isinstance(column, np.ndarray) else list(column)


class _Ids(dict):
    """Cell -> neuron id, ids given in order of first appearance; a cell is stripped (and written as text) first.

    :ivar names: the neuron names (stripped text) -> id; two cells that strip to one name (``" AVAL"``,
        ``"AVAL"``) are one neuron. Looking up a cell already seen costs one dict lookup.
    """

    def __init__(self) -> None:
        super().__init__()
        self.names: dict[str, int] = {}

    def __missing__(self, cell: Any) -> int:
        i = self.names.setdefault("" if cell is None else str(cell).strip(), len(self.names))
        self[cell] = i
        return i


class _Signs(dict):
    """Sign cell -> 1, -1 or 0 (:data:`SIGN_VALUES`, after stripping and lower-casing); -2 for a cell that says none of them."""

    def __missing__(self, cell: Any) -> int:
        s = self[cell] = SIGN_VALUES.get("" if cell is None else str(cell).strip().lower(), -2)
        return s


def _signs(cells: Sequence[Any], seen: _Signs, first_row: int, where: Callable[[int], str], p: Path, field: str) -> np.ndarray:
    out = np.fromiter(map(seen.__getitem__, _cells(cells)), np.int8, len(cells))
    if (out == -2).any():
        i = int(np.argmax(out == -2))
        raise field_error(field, f"'{p.name}' {where(first_row + i)}: sign {str(cells[i])!r} is not 1, -1, 0, excitatory, inhibitory or unknown")
    return out


def _read_rows(p: Path, required: tuple[str, ...], optional: tuple[str, ...], ids: _Ids, field: str) -> _Rows:
    """Stream one file into id and value arrays; names get ids in ``ids`` (shared between files) as they appear."""
    reader = _parquet_chunks if p.suffix.lower() == ".parquet" else _csv_chunks
    signs = _Signs()
    try:
        present, chunks, where = reader(p, required, optional, field)
        ka, kb, kv = required
        parts: dict[str, list[np.ndarray]] = {c: [] for c in present}
        done = 0
        for chunk in chunks:
            m = len(chunk[ka])
            for c in (ka, kb):
                parts[c].append(np.fromiter(map(ids.__getitem__, _cells(chunk[c])), np.int64, m))
            if "" in ids.names:
                blank = ids.names[""]
                i = int(np.argmax((parts[ka][-1] == blank) | (parts[kb][-1] == blank)))
                raise field_error(field, f"'{p.name}' {where(done + i)} has an empty {ka} or {kb}; every row names two neurons")
            parts[kv].append(_numbers(chunk[kv], kv, done, where, p, field))
            if "sign" in present:
                parts["sign"].append(_signs(chunk["sign"], signs, done, where, p, field))
            done += m
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise field_error(field, f"'{p.name}' cannot be read as an edge list ({e})") from None
    if not done:
        raise field_error(field, f"'{p.name}' has a header but no rows")
    joined = {c: np.concatenate(v) for c, v in parts.items()}
    return _Rows(joined[ka], joined[kb], joined[kv], joined.get("sign"), where)


def _sorted_labels(names: list[str]) -> tuple[tuple[str, ...], np.ndarray]:
    """The labels in order (as integers when every name is one, else as text) and each first-appearance id's rank."""
    try:
        keys: list[Any] = [(int(s), s) for s in names]
    except ValueError:
        keys = names
    order = sorted(range(len(names)), key=keys.__getitem__)
    rank = np.empty(len(names), np.int64)
    rank[order] = np.arange(len(names))
    return tuple(names[i] for i in order), rank


def _neuron_signs(pre: np.ndarray, sign: np.ndarray, labels: Sequence[str], where: Callable[[int], str], p: Path) -> np.ndarray:
    """``(n,)`` int8: each presynaptic neuron's one sign (0 for a neuron that is never presynaptic)."""
    out = np.zeros(len(labels), np.int8)
    out[pre] = sign
    clash = np.flatnonzero(out[pre] != sign)
    if clash.size:
        k = int(clash[0])
        rows = np.flatnonzero(pre == pre[k])
        other = int(rows[np.argmax(sign[rows] != sign[rows[0]])])
        first = int(rows[0])
        raise field_error(
            "path", f"'{p.name}': neuron {labels[pre[k]]!r} has sign {int(sign[first])} at {where(first)} but "
            f"{int(sign[other])} at {where(other)}; a neuron's chemical synapses share one sign (its transmitter): give one"
        )
    return out


def _matrix(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n: int, sparse: bool) -> Any:
    """``(n, n)`` float64 with ``values`` summed at ``(rows, cols)``: dense, or a ``csr_array`` without stored zeros."""
    if not sparse:
        return np.bincount(rows * n + cols, weights=values, minlength=n * n).reshape(n, n)
    m = sp.csr_array((values.astype(np.float64), (rows, cols)), shape=(n, n))
    m.sum_duplicates()
    m.eliminate_zeros()
    return m


def _gap_matrix(g: _Rows, n: int, labels: Sequence[str], p: Path, sparse: bool) -> Any:
    """``(n, n)`` symmetric gap-junction counts; a pair listed both ways is refused."""
    fwd, bwd = g.a < g.b, g.a > g.b
    both = np.intersect1d(g.a[fwd] * n + g.b[fwd], g.b[bwd] * n + g.a[bwd])
    if both.size:
        i, j = divmod(int(both[0]), n)
        k1 = int(np.argmax((g.a == i) & (g.b == j)))
        k2 = int(np.argmax((g.a == j) & (g.b == i)))
        raise field_error(
            "gap_junctions", f"'{p.name}' lists the pair {labels[i]!r}, {labels[j]!r} both ways ({g.where(k1)} and {g.where(k2)}); "
            "a gap junction has no direction: list each pair once (rows of one pair are summed)"
        )
    off = g.a != g.b
    rows, cols = np.concatenate([g.a, g.b[off]]), np.concatenate([g.b, g.a[off]])
    return _matrix(rows, cols, np.concatenate([g.value, g.value[off]]), n, sparse)


def _count(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:,.6g}"


def read_edge_list(p: Path, gap: Path | None, groups: Mapping[str, Sequence[str]], sparse: bool | None = None) -> Connectome:
    """A neuron-level Connectome from the edge list ``p`` (and the gap-junction list ``gap``); see the module docstring.

    :param groups: the study's groups, name -> neuron labels or label substrings.
    :param sparse: hold the matrices sparse; ``None``: when there are more than :data:`DENSE_MAX_NEURONS` neurons.
    """
    ids = _Ids()
    chem = _read_rows(p, _CHEMICAL, ("sign",), ids, "path")
    gj = None if gap is None else _read_rows(gap, _GAP, (), ids, "gap_junctions")
    n = len(ids.names)
    sparse = n > DENSE_MAX_NEURONS if sparse is None else sparse
    if not sparse:
        check_dense(n, 1 if gj is None else 2, f"'{p.name}'", "path")
    labels, rank = _sorted_labels(list(ids.names))
    pre, post = rank[chem.a], rank[chem.b]
    signs = None if chem.sign is None else _neuron_signs(pre, chem.sign, labels, chem.where, p)
    weights = _matrix(pre, post, chem.value, n, sparse)
    gap_junctions = None
    if gj is not None:
        gj = attrs.evolve(gj, a=rank[gj.a], b=rank[gj.b])
        gap_junctions = _gap_matrix(gj, n, labels, gap, sparse)
    autapses = int(np.count_nonzero(weights.diagonal() if sparse else np.diag(weights)))
    connections = weights.nnz if sparse else int(np.count_nonzero(weights))
    provenance = (
        f"edge list '{p}' (sha256 {sha256_of(p)[:16]}): {chem.n_rows:,} rows read, {n:,} neurons, "
        f"{_count(chem.value.sum())} synapses summed into {connections:,} connections"
        + (", held sparse" if sparse else "")
        + (f" ({autapses:,} of a neuron onto itself, kept on the diagonal)" if autapses else "")
    )
    if gj is not None and gap is not None:
        own = gj.a == gj.b
        between = ~own & (gj.value > 0)
        pairs = np.unique(np.minimum(gj.a, gj.b)[between] * n + np.maximum(gj.a, gj.b)[between]).size
        provenance += (
            f"; gap junctions from '{gap}' (sha256 {sha256_of(gap)[:16]}): {gj.n_rows:,} rows, "
            f"{_count(gj.value[~own].sum())} junctions between {pairs:,} pairs"
            + (f" and {_count(gj.value[own].sum())} of a neuron with itself" if gj.value[own].any() else "")
        )
    if signs is not None:
        provenance += (
            f"; signs from the sign column: {int((signs == 1).sum()):,} excitatory, {int((signs == -1).sum()):,} inhibitory, "
            f"{int((signs == 0).sum()):,} unknown or never presynaptic"
        )
    provenance += "; what the data measure is as documented by whoever made the file"
    return build(
        weights=weights,
        labels=labels,
        groups=resolve_groups(labels, groups),
        orientation="rows=sources (pre -> post, from an edge list)",
        provenance=provenance,
        name=f"file:{p.name}",
        resolution="neurons",
        gap_junctions=gap_junctions,
        signs=signs,
    )
