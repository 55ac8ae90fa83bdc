"""FedPer: federated base layers, personal (on-device) head layers.

Arivazhagan, Aggarwal, Singh and Choudhary, "Federated Learning with Personalization Layers",
arXiv:1912.00818, 2019, Algorithm 1: clients train the whole network locally but send only the base
(shared) layers; the server averages those by FedAvg (example-weighted) and each client keeps its own
personalization layers. Here the personal keys are named by ``personal_keys`` or ``head_prefix``; the
client runtime keeps them per client (``LocalObjective.personal_keys``), and the global parameters'
personal keys are passed through untouched (they are only the initial value new clients start from).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from tandem.core.errors import ConfigError
from tandem.federated.strategies._common import build_objective, fedavg_aggregate
from tandem.federated.strategy import (
    ClientResult,
    LocalObjective,
    Params,
    RoundPlan,
    Strategy,
    register_strategy,
)


def split_personal(
    keys: Sequence[str], personal_keys: Sequence[str] = (), head_prefix: str | None = None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split parameter names into ``(shared, personal)``, both in the order of ``keys``.

    Personal = the names listed in ``personal_keys`` plus every name starting with ``head_prefix``.
    Raises :class:`ConfigError` for a listed name that is not a parameter, or if either side is empty.
    """
    known = set(keys)
    unknown = [k for k in personal_keys if k not in known]
    if unknown:
        raise ConfigError(f"fedper: personal_keys {unknown} are not parameters; parameters are {list(keys)}")
    chosen = set(personal_keys)
    if head_prefix:
        chosen |= {k for k in keys if k.startswith(head_prefix)}
    personal = tuple(k for k in keys if k in chosen)
    shared = tuple(k for k in keys if k not in chosen)
    if not personal:
        raise ConfigError(
            f"fedper: no personal parameters (personal_keys={tuple(personal_keys)}, head_prefix={head_prefix!r})"
        )
    if not shared:
        raise ConfigError("fedper: every parameter is personal; nothing left to federate")
    return shared, personal


@register_strategy
class FedPer(Strategy):
    """FedAvg on the shared base; personal head parameters never leave the device.

    Parameters
    ----------
    personal_keys:
        Names of the personal (head) parameters, e.g. ``("2.weight", "2.bias")``.
    head_prefix:
        Alternatively (or in addition), every parameter whose name starts with this prefix, e.g. ``"2."``.
    objective:
        The rest of the clients' local objective; its ``personal_keys`` is set from the above.

    Learned state: ``personal_keys_``, the resolved personal names (set on ``initialize`` or the first round).
    """

    name = "fedper"

    def __init__(
        self,
        *,
        personal_keys: Sequence[str] = (),
        head_prefix: str | None = None,
        objective: LocalObjective | None = None,
    ) -> None:
        if isinstance(personal_keys, str):
            raise ConfigError("fedper: personal_keys must be a sequence of names, not one string")
        if not personal_keys and not head_prefix:
            raise ConfigError("fedper: give personal_keys or head_prefix to name the personal head")
        self.personal_keys = tuple(personal_keys)
        self.head_prefix = head_prefix
        super().__init__(build_objective(self.name, objective, personal_keys=self.personal_keys))
        self.personal_keys_: tuple[str, ...] | None = None

    def _resolve(self, params: Params) -> tuple[tuple[str, ...], tuple[str, ...]]:
        shared, personal = split_personal(list(params), self.personal_keys, self.head_prefix)
        self.personal_keys_ = personal
        return shared, personal

    def initialize(self, params: Params, *, n_clients: int | None = None) -> None:
        self._resolve(params)

    def configure_round(self, rnd: int, params: Params) -> RoundPlan:
        _, personal = self._resolve(params)
        objective = dataclasses.replace(self.objective, personal_keys=personal)
        return RoundPlan(round=rnd, params=params, objective=objective)

    def aggregate(self, rnd: int, params: Params, results: Sequence[ClientResult]) -> Params:
        shared, _ = split_personal(list(params), self.personal_keys, self.head_prefix)
        return fedavg_aggregate(self.name, rnd, params, results, shared_keys=shared)
