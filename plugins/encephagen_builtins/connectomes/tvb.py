"""``tvb``: the connectivity data sets shipped with The Virtual Brain (PyPI ``tvb-data``)."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import importlib.util
import re
from collections.abc import Mapping, Sequence
from typing import ClassVar

import attrs
from attrs import validators as v

from encephagen.connectome import Connectome, groups_by_substring
from encephagen_builtins.connectomes.archive import read_tvb_zip
from encephagen_builtins.connectomes.common import build, default_labels, field_error, unmeasured_as_missing
from encephagen_builtins.connectomes.groups import REFERENCE_GROUPS, anatomy_groups, group_spec, groups_by_name, resolve_groups


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
        "directed. The subcortical regions all share one placeholder centre and have no tract lengths "
        "among themselves (stored as 0); the cortical block equals connectivity_76 with its 'l'/'r' prefixes swapped. "
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
    connectome-vs-random study did. tvb-data stores a tract length of 0 for a
    pair it did not measure (every unconnected pair of the 66 and 68 sets,
    298 pairs of the 76 set, 14,102 of the 192 set, none of the 96 set); those
    lengths are read as missing (``NaN``), for the study to fill
    (``connectome.missing_lengths``). For a directed data set (66, 76, 96, 192)
    the two readings are different graphs: each is the other's transpose.

    :ivar dataset: ``connectivity_66``, ``_68``, ``_76``, ``_96`` (the reference) or ``_192``.
    :ivar orientation: ``tvb`` (rows = targets, transposed on load) or ``published`` (rows read as sources).
    :ivar groups: extra or overriding region groups: name -> region labels (whole label) or label substrings.
    """

    name: ClassVar[str] = "tvb"
    summary: ClassVar[str] = "The Virtual Brain's connectivity data sets (66, 68, 76, 96, 192 regions) from tvb-data."

    dataset: str = attrs.field(default="connectivity_96", validator=v.in_(TVB_DATASETS))
    orientation: str = attrs.field(default="tvb", validator=v.in_(("tvb", "published")))
    groups: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict, converter=group_spec)

    def load(self) -> Connectome:
        """Read the data set from the installed ``tvb-data`` (in memory)."""
        try:
            res = importlib.resources.files("tvb_data").joinpath("connectivity", f"{self.dataset}.zip")
            data = res.read_bytes()
        except ModuleNotFoundError:
            raise field_error("dataset", "tvb-data is not installed; pip install tvb-data to use the tvb connectome source") from None
        except FileNotFoundError:
            raise field_error("dataset", f"the installed tvb-data ({_tvb_data_version()}) has no {self.dataset}.zip") from None
        arch = read_tvb_zip(data, "dataset", f"tvb-data {self.dataset}.zip")
        n = arch.weights.shape[0]
        labels = arch.labels if arch.labels is not None else default_labels(n)
        tract = unmeasured_as_missing(arch.tract_lengths)
        if self.orientation == "tvb":
            weights = arch.weights.T
            tract = None if tract is None else tract.T
            orientation = "rows=targets (TVB convention), transposed to rows=sources"
        else:
            weights = arch.weights
            orientation = "as published: the TVB matrix read rows=sources without transposing (TVB itself reads rows=targets)"
        groups = {
            **tvb_default_groups(self.dataset, labels),
            **anatomy_groups(labels, arch.hemispheres, arch.cortical),
            **resolve_groups(labels, self.groups),
        }
        provenance = f"{_TVB_PROVENANCE[self.dataset]}. Read from tvb-data {_tvb_data_version()} ({', '.join(arch.members)})."
        return build(
            weights=weights,
            labels=labels,
            positions=arch.positions,
            tract_lengths=tract,
            groups=groups,
            orientation=orientation,
            provenance=provenance,
            name=f"tvb:{self.dataset}",
        )
