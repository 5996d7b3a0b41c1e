"""TVB-style connectivity zip archives (``weights.txt``, ``tract_lengths.txt``, ...), read in memory."""

from __future__ import annotations

import bz2
import io
import re
import zipfile

import attrs
import numpy as np

from encephagen_builtins.connectomes import common
from encephagen_builtins.connectomes.common import check_matrix, check_size, field_error


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
    :ivar tract_lengths: ``(n, n)`` in mm as stored (0 or NaN where not measured), or ``None``.
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
        raise field_error(field, f"{where} is not a zip archive") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        for info in infos:
            if _unsafe_member(info.filename):
                raise field_error(field, f"{where} holds a member with an unsafe name {info.filename!r} ('..' or an absolute path); refusing to read it")
        found: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            base = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
            for stem in TVB_MEMBERS:
                if base in (f"{stem}.txt", f"{stem}.txt.bz2"):
                    if stem in found:
                        raise field_error(field, f"{where} holds two {stem} members ({found[stem].filename!r}, {info.filename!r}); keep one")
                    found[stem] = info
        if "weights" not in found:
            names = ", ".join(i.filename for i in infos) or "none"
            raise field_error(field, f"{where} has no weights.txt member (members: {names})")

        def text(stem: str) -> str | None:
            info = found.get(stem)
            if info is None:
                return None
            check_size(info.file_size, f"{where} member {info.filename!r}", field)
            raw = zf.read(info)
            try:
                if info.filename.endswith(".bz2"):
                    unpack = bz2.BZ2Decompressor()
                    raw = unpack.decompress(raw, max_length=common.MAX_DATA_BYTES + 1)
                    check_size(len(raw) if unpack.eof else common.MAX_DATA_BYTES + 1, f"{where} member {info.filename!r}", field)
                return raw.decode("utf-8")
            except (OSError, ValueError) as e:
                raise field_error(field, f"{where}: member {info.filename!r} cannot be read as text ({e})") from None

        def matrix(stem: str) -> np.ndarray | None:
            t = text(stem)
            if t is None:
                return None
            try:
                a = np.loadtxt(io.StringIO(t), ndmin=2)
            except ValueError as e:
                raise field_error(field, f"{where}: {found[stem].filename!r} is not a numeric matrix ({e})") from None
            return check_matrix(a, field, f"{where}: {stem.replace('_', ' ')}", missing_ok=stem == "tract_lengths")

        weights = matrix("weights")
        assert weights is not None
        n = weights.shape[0]
        tract = matrix("tract_lengths")
        if tract is not None and tract.shape != weights.shape:
            raise field_error(field, f"{where}: tract lengths have shape {tract.shape}, weights {weights.shape}")
        labels = positions = None
        ctext = text("centres")
        if ctext is not None:
            labels, positions = parse_centres(ctext, field, f"{where}: {found['centres'].filename!r}")
            if len(labels) != n:
                raise field_error(field, f"{where}: centres list {len(labels)} regions, weights have {n}")
        cortical = flags(text("cortical"), n, field, where, "cortical")
        hemi_flags = flags(text("hemispheres"), n, field, where, "hemispheres")
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


def flags(t: str | None, n: int, field: str, where: str, what: str) -> np.ndarray | None:
    """A 0/1 vector of length ``n`` (TVB writes ``1``/``0`` or ``True``/``False``)."""
    if t is None:
        return None
    tokens = t.split()
    table = {"1": 1, "0": 0, "true": 1, "false": 0, "1.0": 1, "0.0": 0}
    try:
        flags = np.array([table[s.lower()] for s in tokens], dtype=np.int64)
    except KeyError as e:
        raise field_error(field, f"{where}: {what} flags must be 0/1, found {e.args[0]!r}") from None
    if flags.shape != (n,):
        raise field_error(field, f"{where}: {len(flags)} {what} flags for {n} regions")
    return flags


def parse_centres(t: str, field: str, where: str) -> tuple[tuple[str, ...], np.ndarray]:
    """TVB ``centres.txt``: ``label x y z`` per line (mm); extra columns are ignored."""
    labels: list[str] = []
    xyz: list[list[float]] = []
    for k, line in enumerate(t.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) < 4:
            raise field_error(field, f"{where} line {k}: expected 'label x y z', got {line.strip()!r}")
        try:
            xyz.append([float(s) for s in tokens[1:4]])
        except ValueError:
            raise field_error(field, f"{where} line {k}: coordinates are not numbers: {line.strip()!r}") from None
        labels.append(tokens[0])
    if not labels:
        raise field_error(field, f"{where} lists no regions")
    pos = np.array(xyz, dtype=np.float64)
    if not np.all(np.isfinite(pos)):
        raise field_error(field, f"{where} has NaN/inf coordinates")
    return tuple(labels), pos
