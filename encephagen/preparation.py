"""What a study does to every connectome it loads: fill missing tract lengths, then normalise the weights.

Both are keys beside ``kind:`` under ``connectome:`` (and under a condition's
or a level's ``connectome:`` override)::

    connectome: {kind: tvb, dataset: connectivity_66, missing_lengths: distances, normalize: share_96}

The study file's loader takes them off before the source's own parameters are
structured (:func:`split_options`) and wraps the source in a
:class:`PreparedSource`, whose :meth:`~PreparedSource.load` is what a study
calls. The defaults change nothing on a connectome whose lengths are all
measured (the 96-region reference set): its numbers stay as they were.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import numpy as np

from encephagen.connectome import Connectome
from encephagen.errors import DataError

#: Ways to treat a missing tract length (``NaN``).
MISSING_LENGTHS = ("distances", "refuse")

#: Weight normalisations.
NORMALIZE = ("none", "max", "mean", "share_96")

#: Mean between-region strength per region of The Virtual Brain's 96-region set
#: (its between-region weights sum to 9,418 over 96 regions, in either orientation).
TVB96_STRENGTH_PER_REGION = 9418.0 / 96.0


def _min_fill(inst: Any, att: attrs.Attribute, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (np.isfinite(value) and value > 0):
        raise ValueError(f"'{att.name}' must be a length in mm > 0, or null, got {value!r}")


@attrs.frozen
class ConnectomeOptions:
    """How a study prepares every connectome it loads: fill missing tract lengths, then normalise the weights.

    :ivar missing_lengths: what a tract length that was not measured becomes:
        ``distances`` (the distance between the two region centres, mm) or
        ``refuse`` (it stays missing). With delays from tract lengths, a
        brain whose between-region edge has no length is refused, so a null
        model that moves edges onto unmeasured pairs cannot silently give them
        zero delay. Measured lengths are never changed.
    :ivar min_fill_mm: the shortest length (mm) a filled pair takes; a pair whose
        centres coincide (the 192 set's subcortical placeholder centre) gets
        this length. ``null``: such pairs stay missing.
    :ivar normalize: ``none`` (weights as the source gives them), ``max`` (the
        largest between-region weight becomes 1), ``mean`` (the mean non-zero
        between-region weight becomes 1) or ``share_96`` (the mean
        between-region strength per region becomes the 96-region set's,
        9418 / 96, which gives the 96 set's between-region share of synapses
        under any microcircuit while no connection probability reaches 1).
        The whole matrix, self-loops included, is multiplied by one factor.
    """

    missing_lengths: str = attrs.field(default="distances", validator=attrs.validators.in_(MISSING_LENGTHS))
    min_fill_mm: float | None = attrs.field(default=None, validator=_min_fill)
    normalize: str = attrs.field(default="none", validator=attrs.validators.in_(NORMALIZE))

    summary: ClassVar[str] = "Keys of every connectome source: missing tract lengths and weight normalisation."

    def __attrs_post_init__(self) -> None:
        if self.min_fill_mm is not None and self.missing_lengths != "distances":
            raise ValueError("'min_fill_mm' applies to filled lengths; it needs missing_lengths: distances")

    def scale(self, connectome: Connectome) -> float:
        """The factor :meth:`apply` multiplies the weights by (1 for ``none``).

        :raises DataError: at ``normalize`` when the connectome has no between-region edge.
        """
        if self.normalize == "none":
            return 1.0
        w = connectome.edges()[2]  # the between-region weights, row-major
        if w.size == 0:
            raise DataError.at("normalize", f"connectome {connectome.name!r} has no between-region edges to normalise by")
        if self.normalize == "max":
            return 1.0 / float(w.max())
        if self.normalize == "mean":
            return 1.0 / float(w.mean())
        total = w.sum() if connectome.is_sparse else connectome.between.sum()  # a dense sum, as it always was
        return TVB96_STRENGTH_PER_REGION / (float(total) / connectome.n_regions)

    def apply(self, connectome: Connectome) -> Connectome:
        """``connectome`` with its missing lengths filled (``distances``) and its weights normalised."""
        c = connectome
        if self.missing_lengths == "distances":
            c = c.with_lengths_filled(self.min_fill_mm)
        factor = self.scale(c)
        if self.normalize != "none":
            c = c.with_weights_scaled(factor, f"weights multiplied by {factor:.6g} (normalize: {self.normalize})")
        return c


#: The keys :class:`ConnectomeOptions` takes from beside ``kind:``.
OPTION_KEYS: tuple[str, ...] = tuple(a.name for a in attrs.fields(ConnectomeOptions))


def split_options(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(the source's own parameters, the option keys)`` of a ``connectome:`` mapping without ``kind``."""
    own = {k: v for k, v in params.items() if k not in OPTION_KEYS}
    return own, {k: v for k, v in params.items() if k in OPTION_KEYS}


@attrs.frozen
class PreparedSource:
    """A connectome source and the study's options for it; :meth:`load` is what a study calls.

    :ivar source: the source component (``tvb``, ``file``, ...).
    :ivar options: how the loaded connectome is prepared.
    """

    source: Any
    options: ConnectomeOptions = attrs.field(factory=ConnectomeOptions)

    @property
    def name(self) -> str:
        """The source's name (``tvb``, ``file``, ...)."""
        return self.source.name

    def load(self) -> Connectome:
        """The source's connectome, prepared (:meth:`ConnectomeOptions.apply`)."""
        return self.options.apply(self.source.load())
