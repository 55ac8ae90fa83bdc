"""Client selection: which clients a round asks for.

Every selector returns sorted client ids and can checkpoint its random state, so a resumed run
selects exactly what an uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from tandem.core.errors import ConfigError
from tandem.fleet import FleetProfiles, available_mask


class Selector(Protocol):
    """``select(rnd, n_clients, k)`` -> sorted ids; ``state_dict`` / ``load_state_dict`` for checkpoints."""

    def select(self, rnd: int, n_clients: int, k: int) -> NDArray[np.int64]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


def _check_k(n_clients: int, k: int) -> None:
    if not 1 <= k <= n_clients:
        raise ConfigError(f"cannot select {k} clients per round from a population of {n_clients}")


class _SeededSelector:
    """A selector with its own ``numpy.random.default_rng(seed)``, checkpointed as the generator's state."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rng_ = np.random.default_rng(seed)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng_.bit_generator.state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.rng_.bit_generator.state = state["rng"]


class UniformSelector(_SeededSelector):
    """``sorted(rng.choice(N, K, replace=False))`` each round, ``rng = numpy.random.default_rng(seed)``.

    The generator is the selector's own and advances once per round, as the peer workload's sampler does.
    """

    def select(self, rnd: int, n_clients: int, k: int) -> NDArray[np.int64]:
        _check_k(n_clients, k)
        return np.sort(self.rng_.choice(n_clients, k, replace=False)).astype(np.int64)


class ScheduleSelector:
    """Replays a fixed schedule: round ``r`` (1-based) selects ``schedule[r - 1]`` (e.g. ``schedule.json``)."""

    def __init__(self, schedule: Sequence[Sequence[int]]) -> None:
        self.schedule = [np.sort(np.asarray(ids, dtype=np.int64)) for ids in schedule]
        for r, ids in enumerate(self.schedule, 1):
            if len(np.unique(ids)) != len(ids):
                raise ConfigError(f"ScheduleSelector: round {r} lists a client twice")

    def select(self, rnd: int, n_clients: int, k: int) -> NDArray[np.int64]:
        if not 1 <= rnd <= len(self.schedule):
            raise ConfigError(f"ScheduleSelector: no entry for round {rnd} (schedule has {len(self.schedule)} rounds)")
        ids = self.schedule[rnd - 1]
        if len(ids) and (ids[0] < 0 or ids[-1] >= n_clients):
            raise ConfigError(f"ScheduleSelector: round {rnd} names clients outside 0..{n_clients - 1}")
        return ids

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass


class AvailabilitySelector(_SeededSelector):
    """Samples among the devices that are online this round.

    Device ``d`` is online with probability ``fleet.availability[d]``, drawn independently each round
    (:func:`tandem.fleet.available_mask`); the round takes ``k`` of the online devices uniformly, or all
    of them when fewer are online. Device ``d`` runs client ``d``.
    """

    def __init__(self, fleet: FleetProfiles, seed: int = 0) -> None:
        super().__init__(seed)
        self.fleet = fleet

    def select(self, rnd: int, n_clients: int, k: int) -> NDArray[np.int64]:
        _check_k(n_clients, k)
        if n_clients > len(self.fleet):
            raise ConfigError(f"AvailabilitySelector: {n_clients} clients but the fleet has {len(self.fleet)} devices")
        online = np.flatnonzero(available_mask(self.fleet, self.rng_)[:n_clients])
        if len(online) > k:
            online = self.rng_.choice(online, k, replace=False)
        return np.sort(online).astype(np.int64)
