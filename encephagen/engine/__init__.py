"""The simulation engine: networks from connectomes, and the step loop.

See ``docs/engine.md`` for the step order, the equations and the layout.
"""

from encephagen.engine.build import Delays, Microcircuit, build_batch, build_network, estimate_bytes
from encephagen.engine.cellular import Cellular, network_from_edges
from encephagen.engine.dynamics import Dynamics, poisson_thresholds
from encephagen.engine.network import GapJunctions, Network
from encephagen.engine.recording import Health, Record, Recording
from encephagen.engine.simulate import Brain, SimulationError

__all__ = [
    "Brain",
    "Cellular",
    "Delays",
    "Dynamics",
    "GapJunctions",
    "Health",
    "Microcircuit",
    "Network",
    "Record",
    "Recording",
    "SimulationError",
    "build_batch",
    "build_network",
    "estimate_bytes",
    "network_from_edges",
    "poisson_thresholds",
]
