"""Built-in tasks: the published protocol (spec sections 6 and 8) and the log's next steps.

Every task drives all brains of a batch at once: inputs are ``(N,)`` tensors
built from boolean masks, activity comes back as per-region spike counts
``(B, R)`` accumulated on the device, and each metric is a ``(B,)`` array,
one value per brain.

Rates inside metrics are in the published unit, **spikes per neuron per
step** (multiply by ``1e4`` for Hz at ``dt = 0.1`` ms), so that our numbers
can be put beside the published table.

Learning events. While a learner is attached, the engine calls
``learner.on_step`` every step. Tasks call, in this order within a trial:
``begin_window("cs")`` / ``end_window()`` around the conditioned stimulus
(used by the Hebbian rule; other rules may lack them), ``snapshot()`` at
its offset, ``begin_window("us")`` / ``end_window()`` around the
unconditioned stimulus, and ``reward(r)`` at its offset.

One module per family of tasks (``spontaneous``, ``conditioning``,
``patterns``, ``memory``); ``protocol`` holds what they share.
"""

from __future__ import annotations

from encephagen.interfaces import TaskContext
from encephagen_builtins.tasks.conditioning import Conditioning, Multisensory
from encephagen_builtins.tasks.memory import SequenceTask, WorkingMemory
from encephagen_builtins.tasks.patterns import Discrimination, ResponseDiversity
from encephagen_builtins.tasks.protocol import draw_patterns, pattern_mask, pattern_masks, regions_of
from encephagen_builtins.tasks.spontaneous import Differentiation, Warmup

#: The tasks this plugin registers.
TASKS: tuple[type, ...] = (Warmup, Differentiation, Conditioning, Discrimination, WorkingMemory, ResponseDiversity, SequenceTask, Multisensory)

__all__ = [
    "TASKS", "Conditioning", "Differentiation", "Discrimination", "Multisensory", "ResponseDiversity",
    "SequenceTask", "TaskContext", "Warmup", "WorkingMemory", "draw_patterns", "pattern_mask", "pattern_masks", "regions_of",
]
