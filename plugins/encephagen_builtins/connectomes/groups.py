"""Region groups: the reference groups of the model and how a source finds them in its labels.

The reference groups (:data:`REFERENCE_GROUPS`) are the model's (spec section 1),
matched by case-insensitive substring on the labels; :func:`resolve_groups`
reads the groups a study names; :func:`anatomy_groups` adds hemispheres and
cortical/subcortical flags.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from encephagen_builtins.connectomes.common import field_error


#: Region groups of the reference model, matched by case-insensitive substring
#: on the label (spec section 1). Order inside a group is label order.
REFERENCE_GROUPS: dict[str, tuple[str, ...]] = {
    "visual": ("V1", "V2", "VAC"),
    "auditory": ("A1", "A2"),
    "somatosensory": ("S1", "S2"),
    "prefrontal": ("PFC", "FEF"),
    "hippocampus": ("HC", "PHC"),
    "amygdala": ("AMYG",),
    "basal_ganglia": ("BG",),
    "thalamus": ("TM",),
    "motor": ("M1", "PMC"),
}


def group_spec(value: Any) -> dict[str, tuple[str, ...]]:
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
            raise field_error(f"{field}.{name}", f"matches no region label (entries {list(entries)}; labels look like {examples})")
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


SUFFIX_HEMI = re.compile(r"_(R|L)$")


_PREFIX_HEMI = re.compile(r"^(r|l)(?=[A-Z_])")


def hemisphere_of(label: str) -> str | None:
    """``"right"``, ``"left"`` or ``None`` from a label.

    A suffix ``_R`` / ``_L`` wins (``RM-V1_R``, ``Precentral_L``); otherwise a
    lowercase prefix ``r`` / ``l`` followed by an uppercase letter or ``_``
    (``rA1``, ``lBSTS``, ``r_precentral``). ``rPUL.L`` is right: ``.L`` there
    names a nucleus part, not a side.
    """
    m = SUFFIX_HEMI.search(label.strip()) or _PREFIX_HEMI.search(label.strip())
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
