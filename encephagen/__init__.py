"""encephagen: does brain wiring help a spiking network learn?"""

import pluggy

__version__ = "0.1.0"

#: Marker for plugin hook implementations: ``@hookimpl def encephagen_register_...``.
hookimpl = pluggy.HookimplMarker("encephagen")

__all__ = ["__version__", "hookimpl"]
