"""``celegans``: the published *C. elegans* connectomes, one node per neuron (PyPI ``cect``).

The data come from the C. elegans Connectome Toolbox (``cect``, MIT,
https://github.com/openworm/ConnectomeToolbox), which ships every data set as
a JSON file (``cect/cache/NAME.json``: ``nodes``, and ``connections`` holding
one ``(n, n)`` matrix per synapse class, rows = presynaptic cells). The
package is read as files: importing ``cect`` would pull in its heavy
dependencies, so install it with ``pip install --no-deps cect``.

What is read, per data set:

- ``Generic_CS``: chemical synapses, rows = presynaptic (sources), in the
  data set's own unit (synaptic contacts, active zones or EM serial
  sections; see :data:`CELEGANS_DATASETS`);
- ``Generic_GJ``: gap junctions, stored twice (``[i, j]`` and ``[j, i]``),
  symmetric;
- the cell table ``cect/data/all_cell_info.csv`` (the cell types of Cook et
  al. 2019, Nature 571:63): which nodes are neurons (muscles, glia and other
  end organs are dropped) and the sensory / interneuron / motor / pharyngeal
  categories;
- the transmitter table: Wang et al. 2024 (eLife 13:RP95402, "A
  neurotransmitter atlas of C. elegans males and hermaphrodites") as cect
  stores it (``Wang2024HermReader.json``, ``Wang2024MaleReader.json``: one
  matrix per transmitter over the Cook 2019 connections). A neuron's fast
  transmitters are those whose matrix has a row for it (acetylcholine,
  glutamate, GABA, betaine).

Sign. Acetylcholine is excitatory and GABA inhibitory; glutamate acts on
excitatory (GLR) and inhibitory (GluCl) receptors alike, so its sign is the
``glutamate`` option (default ``unknown``); betaine, several transmitters of
different signs, or none (e.g. the dopaminergic CEP, ADE, PDE) give
``unknown`` (0). The brain decides what an unknown sign does.

Cell class: the name without its left/right (and dorsal/ventral) suffix
when the partner cell exists (``ASEL`` -> ``ASE``, ``RMDDL`` -> ``RMD``,
``RMEV`` -> ``RME``; ``AVL`` and ``PVR`` stay), numbered motor neurons by
prefix (``VA12`` -> ``VA``). The 302 hermaphrodite neurons fall into 118
classes, WormAtlas's count.
"""

from __future__ import annotations

import csv
import functools
import importlib.metadata
import importlib.util
import io
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import attrs
import numpy as np
from attrs import validators as v

from encephagen.connectome import Connectome
from encephagen_builtins.connectomes.common import build, field_error
from encephagen_builtins.connectomes.groups import group_spec, resolve_groups


@attrs.frozen
class WormDataset:
    """One shipped data set: where it is and what it is.

    :ivar file: the JSON file in ``cect/cache``.
    :ivar paper: the source paper.
    :ivar animal: which animal (sex, individual).
    :ivar stage: developmental stage.
    :ivar unit: what a chemical-synapse weight counts.
    :ivar note: known limits of the data set.
    """

    file: str
    paper: str
    animal: str
    stage: str
    unit: str
    note: str = ""

    @property
    def male(self) -> bool:
        """Whether the animal is a male (its transmitter table is the male one)."""
        return self.animal.startswith("male")


_WITVLIET = "Witvliet et al. 2021, Connectomes across development reveal principles of brain maturation, Nature 596:257"
_WITVLIET_STAGES = ("L1", "L1", "L1", "L1", "L2", "L3", "adult", "adult")
_WITVLIET_NOTE = (
    "the brain only (nerve ring and ventral ganglion; no ventral cord); the paper annotated gap junctions only "
    "partially and left them out of its analyses"
)

#: Data sets by the name a study gives (``dataset:``), named after the paper.
CELEGANS_DATASETS: dict[str, WormDataset] = {
    "white1986_whole": WormDataset(
        "White_whole.json",
        "White et al. 1986, The structure of the nervous system of the nematode Caenorhabditis elegans, "
        "Phil. Trans. R. Soc. B 314:1, as reannotated by Varshney et al. 2011, with the pharynx",
        "hermaphrodite (composite of several animals)", "adult", "synaptic contacts",
        "the somatic part is Varshney et al. 2011 (which corrected and extended White's data); CANL/CANR have no synapses",
    ),
    "varshney2011": WormDataset(
        "VarshneyDataReader.json",
        "Varshney et al. 2011, Structural properties of the Caenorhabditis elegans neuronal network, "
        "PLoS Comput. Biol. 7:e1001066",
        "hermaphrodite (composite of several animals)", "adult", "synaptic contacts",
        "somatic nervous system only: no pharyngeal neurons, no CANL/CANR",
    ),
    "cook2019_herm": WormDataset(
        "Cook2019HermReader.json",
        "Cook et al. 2019, Whole-animal connectomes of both Caenorhabditis elegans sexes, Nature 571:63",
        "hermaphrodite (composite of several animals)", "adult", "EM serial sections (number and size of synapses)",
    ),
    "cook2019_male": WormDataset(
        "Cook2019MaleReader.json",
        "Cook et al. 2019, Whole-animal connectomes of both Caenorhabditis elegans sexes, Nature 571:63",
        "male (composite of several animals)", "adult", "EM serial sections (number and size of synapses)",
        "ADAR, BAGR and CA1 have no connections in the shipped male matrices",
    ),
    **{
        f"witvliet2021_{i}": WormDataset(
            f"WitvlietDataReader{i}.json", _WITVLIET, f"hermaphrodite, individual {i} of 8", stage,
            "synapses (presynaptic active zones agreed by two of three annotators)", _WITVLIET_NOTE,
        )
        for i, stage in enumerate(_WITVLIET_STAGES, start=1)
    },
}

#: Cook et al. 2019 cell types (the table's ``Type`` before any ``;``) by category.
_CATEGORY_TYPES: dict[str, tuple[str, ...]] = {
    "sensory": (
        "Amphid", "Amphid, nociceptive", "Cephalic", "Mechanosensory", "Phasmid", "Touch",
        "O2, CO2, social signals, touch", "Male sensory neuron", "Male head sensory neuron",
    ),
    "interneurons": (
        "Layer 1 interneuron", "Layer 2 interneuron", "Layer 3 interneuron", "Category 4 interneuron",
        "Male interneuron", "Male head interneuron", "Linker to pharynx",
    ),
    "motor": ("Head motor neuron", "Sublateral motor neuron", "Ventral cord motor neuron", "Hermaphrodite specific motor neuron"),
    "pharyngeal": ("Pharyngeal interneuron", "Pharyngeal motor neuron", "Pharyngeal polymodal neuron"),
    "canal": ("Canal neuron",),
}

#: Region groups by cell class (a group lists classes; a neuron joins when its class is listed).
CLASS_GROUPS: dict[str, tuple[str, ...]] = {
    # the eleven chemosensory amphid classes (Bargmann 2006, WormBook, "Chemosensation in C. elegans")
    "chemosensory": ("ADF", "ADL", "ASE", "ASG", "ASH", "ASI", "ASJ", "ASK", "AWA", "AWB", "AWC"),
    "thermosensory": ("AFD",),
    # Cook et al. 2019's mechanosensory category
    "mechanosensory": ("ADE", "ALM", "AVM", "DVA", "FLP", "PDE", "PLM", "PVD", "PVM"),
    # the gentle-touch receptor neurons (Chalfie et al. 1985)
    "touch": ("ALM", "AVM", "PLM", "PVM"),
    # the amphid interneurons and RIA, on which they converge
    "first_layer_interneurons": ("AIA", "AIB", "AIY", "AIZ", "RIA"),
    # the command interneurons of locomotion (Chalfie et al. 1985)
    "command_interneurons": ("AVA", "AVB", "AVD", "AVE", "PVC"),
    "forward_motor": ("VB", "DB"),
    "backward_motor": ("VA", "DA"),
    "gabaergic_motor": ("VD", "DD"),
    # dopaminergic neurons (Sulston et al. 1975); R5A, R7A, R9A in the male tail
    "dopaminergic": ("CEP", "ADE", "PDE", "R5A", "R7A", "R9A"),
}

#: Fast transmitters of the Wang 2024 table, and the groups they give.
_TRANSMITTERS = {"Acetylcholine": "cholinergic", "Glutamate": "glutamatergic", "GABA": "gabaergic", "Betaine": "betainergic"}

_NUMBERED = re.compile(r"^(AS|DA|DB|DD|VA|VB|VC|VD|CA|CP|DX|EF)\d+$")


def cell_class(name: str, known: frozenset[str]) -> str:
    """The cell class of ``name`` (see the module docstring); ``known`` holds every cell name."""
    m = _NUMBERED.match(name)
    if m:
        return m.group(1)
    base = name
    if len(base) > 2 and base[-1] in "LR" and base[:-1] + ("R" if base[-1] == "L" else "L") in known:
        base = base[:-1]
    if len(base) >= 4 and base[-1] in "DV":
        other = base[:-1] + ("V" if base[-1] == "D" else "D")
        if any(n.startswith(other) for n in known):
            base = base[:-1]
    return base


def _cect_dir() -> Path:
    """The installed ``cect`` package directory, found without importing it."""
    spec = importlib.util.find_spec("cect")
    if spec is None or not spec.submodule_search_locations:
        raise field_error(
            "dataset",
            "the C. elegans data come from the package cect, which is not installed; pip install --no-deps cect==0.3.5 "
            "(--no-deps: encephagen reads its data files and needs none of its dependencies)",
        )
    return Path(next(iter(spec.submodule_search_locations)))


def cect_version() -> str:
    """The installed cect's version, or ``unknown version``."""
    try:
        return importlib.metadata.version("cect")
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"


def _read(relative: str) -> bytes:
    path = _cect_dir() / relative
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise field_error("dataset", f"the installed cect ({cect_version()}) has no {relative}") from None


@functools.lru_cache(maxsize=None)
def read_matrices(file: str) -> tuple[tuple[str, ...], Mapping[str, np.ndarray]]:
    """``(nodes, {synapse class: (n, n) float64 read-only matrix})`` of one ``cect/cache`` JSON file."""
    try:
        data = json.loads(_read(f"cache/{file}"))
        nodes = tuple(str(x) for x in data["nodes"])
        mats = {}
        for k, m in data["connections"].items():
            a = np.asarray(m, dtype=np.float64)
            if a.shape != (len(nodes), len(nodes)):
                raise ValueError(f"{k} has shape {a.shape} for {len(nodes)} nodes")
            a.setflags(write=False)
            mats[str(k)] = a
    except (ValueError, KeyError, TypeError) as exc:
        raise field_error("dataset", f"cect/cache/{file} is not a connectome file encephagen can read ({exc})") from None
    return nodes, mats


@functools.lru_cache(maxsize=None)
def cell_types() -> Mapping[str, str]:
    """Cell name -> Cook et al. 2019 cell type (``cect/data/all_cell_info.csv``, the part before any ``;``)."""
    rows = csv.DictReader(io.StringIO(_read("data/all_cell_info.csv").decode("utf-8")))
    return {r["Cell name"].strip(): r["Type"].split(";")[0].strip() for r in rows}


def category_of(cell_type: str) -> str | None:
    """``sensory``, ``interneurons``, ``motor``, ``pharyngeal``, ``canal`` or ``None`` (not a neuron)."""
    return next((cat for cat, types in _CATEGORY_TYPES.items() if cell_type in types), None)


@functools.lru_cache(maxsize=None)
def transmitters(male: bool) -> Mapping[str, frozenset[str]]:
    """Neuron -> its fast transmitters in the Wang et al. 2024 table (``Acetylcholine``, ``Glutamate``, ``GABA``, ``Betaine``)."""
    nodes, mats = read_matrices("Wang2024MaleReader.json" if male else "Wang2024HermReader.json")
    out: dict[str, set[str]] = {}
    for nt in _TRANSMITTERS:
        if nt in mats:
            for i in np.flatnonzero(mats[nt].sum(axis=1) > 0):
                out.setdefault(nodes[i], set()).add(nt)
    return {k: frozenset(s) for k, s in out.items()}


def sign_of(fast: frozenset[str], glutamate: int) -> int:
    """1, -1 or 0 from a neuron's fast transmitters: one sign shared by all of them, else 0 (unknown)."""
    signs = {{"Acetylcholine": 1, "GABA": -1, "Glutamate": glutamate}.get(t, 0) for t in fast}
    return signs.pop() if len(signs) == 1 else 0


_SIGN_NAMES = {"excitatory": 1, "inhibitory": -1, "unknown": 0}


@attrs.frozen
class CelegansConnectome:
    """A published *C. elegans* connectome at single-neuron resolution (package ``cect``).

    Nodes are the data set's neurons, in its order (muscles, glia and other
    end organs are left out). ``weights[pre, post]`` are chemical-synapse
    counts (rows = presynaptic), ``gap_junctions`` the symmetric gap-junction
    counts; each neuron has a cell class and a sign (see the module
    docstring). Groups: the cell categories (``sensory``, ``interneurons``,
    ``motor``, ``pharyngeal``), the class groups of :data:`CLASS_GROUPS`,
    the transmitter groups (``cholinergic``, ``glutamatergic``, ``gabaergic``,
    ``betainergic``); groups that match no neuron of a data set are left out.
    A study adds its own by label (``groups: {ava: [AVAL, AVAR]}``).

    :ivar dataset: ``white1986_whole``, ``varshney2011``, ``cook2019_herm``, ``cook2019_male``, or ``witvliet2021_1`` ... ``witvliet2021_8`` (eight animals, L1 to adult).
    :ivar synapses: ``chemical`` (no gap junctions), ``gap`` (chemical weights all 0) or ``both``.
    :ivar glutamate: the sign of glutamatergic neurons: ``excitatory``, ``inhibitory`` or ``unknown``.
    :ivar groups: extra or overriding groups: name -> neuron labels (whole label) or label substrings.
    """

    name: ClassVar[str] = "celegans"
    summary: ClassVar[str] = "Published C. elegans connectomes (White, Varshney, Cook, Witvliet) at neuron resolution, from cect."

    dataset: str = attrs.field(default="cook2019_herm", validator=v.in_(tuple(CELEGANS_DATASETS)))
    synapses: str = attrs.field(default="both", validator=v.in_(("chemical", "gap", "both")))
    glutamate: str = attrs.field(default="unknown", validator=v.in_(tuple(_SIGN_NAMES)))
    groups: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict, converter=group_spec)

    def load(self) -> Connectome:
        """Read the data set from the installed ``cect`` (its data files only)."""
        info = CELEGANS_DATASETS[self.dataset]
        nodes, mats = read_matrices(info.file)
        for k in ("Generic_CS", "Generic_GJ"):
            if k not in mats:
                raise field_error("dataset", f"cect/cache/{info.file} has no {k} matrix")
        types = cell_types()
        keep = [i for i, c in enumerate(nodes) if category_of(types.get(c, "")) is not None]
        labels = tuple(nodes[i] for i in keep)
        sub = np.ix_(keep, keep)
        chem, gap = mats["Generic_CS"][sub], mats["Generic_GJ"][sub]
        if not np.array_equal(gap, gap.T):
            raise field_error("dataset", f"the gap junctions of cect/cache/{info.file} are not symmetric")
        known = frozenset(types)
        classes = tuple(cell_class(c, known) for c in labels)
        fast = transmitters(info.male)
        glu = _SIGN_NAMES[self.glutamate]
        signs = [sign_of(fast.get(c, frozenset()), glu) for c in labels]
        groups = {
            **_category_groups(labels, types),
            **_class_groups(classes),
            **{g: idx for nt, g in _TRANSMITTERS.items() if (idx := tuple(i for i, c in enumerate(labels) if nt in fast.get(c, ())))},
            **resolve_groups(labels, self.groups),
        }
        dropped = mats["Generic_CS"].sum() - chem.sum()
        n_gap, self_gap = int(round(np.triu(gap, 1).sum())), float(np.trace(gap))
        provenance = (
            f"{info.paper}; {info.animal}, {info.stage}; chemical weights in {info.unit}"
            + (f"; {info.note}" if info.note else "")
            + f". {len(labels)} neurons of the {len(nodes)} cells in the file (cell types of Cook et al. 2019; "
            f"{dropped:g} chemical-synapse units to or from muscles, glia and other cells left out); "
            f"{chem.sum():g} chemical-synapse units in {int(np.count_nonzero(chem))} connections, {n_gap} gap junctions "
            f"between {int(np.count_nonzero(np.triu(gap, 1)))} pairs"
            + (f" and {self_gap:g} of a neuron with itself" if self_gap else "")
            + (" (not used: synapses: chemical)" if self.synapses == "chemical" else "")
            + (" (chemical synapses not used: synapses: gap)" if self.synapses == "gap" else "")
            + f". Signs from the transmitter table of Wang et al. 2024 (eLife 13:RP95402): {signs.count(1)} excitatory, "
            f"{signs.count(-1)} inhibitory, {signs.count(0)} unknown (glutamate: {self.glutamate}). "
            f"Read from cect {cect_version()} (cache/{info.file})"
        )
        return build(
            weights=np.zeros_like(chem) if self.synapses == "gap" else chem,
            labels=labels,
            groups=groups,
            orientation="rows=sources (presynaptic cells, as stored by cect)",
            provenance=provenance,
            name=f"celegans:{self.dataset}",
            resolution="neurons",
            gap_junctions=None if self.synapses == "chemical" else gap,
            signs=signs,
            cell_classes=classes,
        )


def _category_groups(labels: tuple[str, ...], types: Mapping[str, str]) -> dict[str, tuple[int, ...]]:
    cats = [category_of(types.get(c, "")) for c in labels]
    return {cat: idx for cat in _CATEGORY_TYPES if (idx := tuple(i for i, x in enumerate(cats) if x == cat))}


def _class_groups(classes: tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    return {g: idx for g, members in CLASS_GROUPS.items() if (idx := tuple(i for i, c in enumerate(classes) if c in members))}
