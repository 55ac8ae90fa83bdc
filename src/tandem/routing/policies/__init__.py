"""The built-in request policies, one per file; importing this package registers them all by name."""

from tandem.routing.policies.always import AlwaysPolicy
from tandem.routing.policies.confidence import ConfidencePolicy
from tandem.routing.policies.inconsistency import InconsistencyPolicy, inconsistency_score
from tandem.routing.policies.learned import LearnedValuePolicy
from tandem.routing.policies.never import NeverPolicy
from tandem.routing.policies.periodic import PeriodicPolicy
from tandem.routing.policies.random_budget import RandomBudgetPolicy

__all__ = [
    "AlwaysPolicy",
    "ConfidencePolicy",
    "InconsistencyPolicy",
    "LearnedValuePolicy",
    "NeverPolicy",
    "PeriodicPolicy",
    "RandomBudgetPolicy",
    "inconsistency_score",
]
