"""``federate``: one call from a user's model, client population and strategy to a finished federated run.

A thin function over :class:`~tandem.sim.engine.FederatedSimulation`: it fills in what the run can derive
(central evaluation from a held-out ``test=(x, y)`` pair, logging off unless asked) and passes every other
engine option through unchanged, so a user who outgrows it moves to the class without relearning anything.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from tandem.core.errors import ConfigError
from tandem.data.clients import ClientData
from tandem.federated.strategy import Strategy, get_strategy
from tandem.sim.engine import ClassificationEval, Evaluate, FederatedResult, FederatedSimulation


def federate(
    model: nn.Module,
    clients: ClientData,
    strategy: Strategy | str = "fedavg",
    *,
    rounds: int,
    clients_per_round: int,
    test: tuple[Any, Any] | None = None,
    evaluate: Evaluate | None = None,
    resume: bool = False,
    **engine_kwargs: Any,
) -> FederatedResult:
    """Train ``model`` federated over ``clients`` with ``strategy`` and return the :class:`FederatedResult`.

    Parameters
    ----------
    model:
        The architecture every client trains; its current weights are the initial global model (it is not
        modified; the final weights are ``result.params``).
    clients:
        The client population, e.g. ``PartitionedData.from_arrays(x, y, n_clients, alpha=0.5)``.
    strategy:
        A strategy object (``FedAvg(lr=0.05)``, ``Scaffold()``, ...) or a registered name (``"fedavg"``).
    rounds, clients_per_round:
        How many rounds, and how many clients are asked in each.
    test:
        A held-out ``(x, y)`` pair: the global model's accuracy and loss on it after every round
        (:class:`ClassificationEval`). Mutually exclusive with ``evaluate``.
    evaluate:
        Any central evaluation ``params -> {metric: value}``.
    resume:
        Continue from ``checkpoint_dir``'s checkpoint if one exists.
    engine_kwargs:
        Every other :class:`FederatedSimulation` option (``runtime``, ``seed``, ``fleet``, ``deadline_s``,
        ``dropout``, ``codec``, ``compress``, ``metrics_path``, ``checkpoint_dir``, ``progress``, ...);
        ``progress`` defaults to False here.
    """
    if test is not None and evaluate is not None:
        raise ConfigError("federate: give test=(x, y) or evaluate=..., not both")
    if test is not None:
        if not (isinstance(test, tuple | list) and len(test) == 2):
            raise ConfigError(f"federate: test must be an (x, y) pair, got {type(test).__name__}")
        evaluate = ClassificationEval(model, test[0], test[1])
    chosen = get_strategy(strategy) if isinstance(strategy, str) else strategy
    engine_kwargs.setdefault("progress", False)
    sim = FederatedSimulation(
        model, clients, chosen, rounds=rounds, clients_per_round=clients_per_round, evaluate=evaluate, **engine_kwargs
    )
    return sim.run(resume=resume)
