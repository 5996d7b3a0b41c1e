"""The built-in learning rules: e-prop, the exp. 21 Hebbian rule, three-factor STDP.

See ``docs/learning_rules.md`` for the equations, parameters and the event
API that tasks use.
"""

from encephagen_builtins.learning.eprop import EProp, EPropLearner
from encephagen_builtins.learning.hebbian import Hebbian, HebbianLearner
from encephagen_builtins.learning.stdp3 import STDP3Learner, ThreeFactorSTDP

__all__ = ["EProp", "EPropLearner", "Hebbian", "HebbianLearner", "STDP3Learner", "ThreeFactorSTDP"]
