"""A toy third-party null model package (the tests install it through a dist-info)."""

from typing import ClassVar

import attrs

from encephagen import hookimpl


@attrs.frozen
class MirrorNull:
    """Transposes the matrix (a toy null model from a third-party package)."""

    name: ClassVar[str] = "mirror"
    invariants: ClassVar[tuple[str, ...]] = ("n_regions", "n_edges", "weights_multiset")

    def randomize(self, connectome, rng):
        return connectome.with_weights(connectome.weights.T.copy(), "mirror")


@hookimpl
def encephagen_register_null_models():
    return [MirrorNull]
