"""encephagen: does brain wiring help a spiking network learn?"""

import pluggy

__version__ = "0.1.0"

#: The version of the plugin contract (:mod:`encephagen.interfaces`); it changes when a
#: required method, its arguments or a required attribute changes (see docs/plugins.md).
PLUGIN_API = 1

#: Marker for plugin hook implementations: ``@hookimpl def encephagen_register_...``.
hookimpl = pluggy.HookimplMarker("encephagen")


def run(study, out=None, *, registry=None, **options):  # type: ignore[no-untyped-def] - typed in the docstring
    """Run a study from Python (a notebook, a script) and return its tables.

    :param study: the path of a study ``.yaml`` file, or the study as a mapping
        (what the file would hold: ``{"name": ..., "connectome": ..., ...}``).
    :param out: the output directory (default ``results/<study name>``).
    :param registry: the components (default: every installed plugin).
    :param options: passed to :func:`encephagen.runner.run_study`
        (``executor``, ``workers``, ``verbosity``, ``retry_failed``, ``sets``, ``replicate_fn``).
    :returns: an :class:`encephagen.exports.StudyResults`: ``results``, ``summary``,
        ``interactions``, ``omnibus`` as objects, ``table(name)`` as rows, ``report``, ``counts``.
    :raises encephagen.errors.EncephagenError: bad input, one problem per line.

    Components defined in the notebook itself cannot be sent to worker
    processes; such a study runs serially (it says so), or put them in a module.
    """
    from pathlib import Path

    from encephagen.exports import results_of
    from encephagen.plugins import default_registry
    from encephagen.runner import run_study

    if out is None:
        name = str(study.get("name", "study")) if isinstance(study, dict) else Path(study).stem
        out = Path("results") / name
    run_study(study, out, registry or default_registry(), **options)
    return results_of(out)


__all__ = ["PLUGIN_API", "__version__", "hookimpl", "run"]
