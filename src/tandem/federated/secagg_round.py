"""One secure-aggregation round end to end, and FedAvg behind it as a strategy wrapper.

:func:`secure_sum` drives :class:`~tandem.federated.secagg.SecAggClient` objects through the four phases
in process, counting every message's real bytes (public keys, encrypted shares, masked vectors, revealed
shares) and the time of the client and server computation, so the overhead against sending a plain fp32
update is measured, not estimated. Clients listed in ``dropped`` go offline *after* sharing their keys,
i.e. their pairwise masks are already in everyone else's input; the server recovers them from ``t`` shares.

:class:`SecureAggregation` puts FedAvg behind the protocol: each client sends ``[n_k * u_k, n_k]`` masked,
the server learns only ``sum_k n_k u_k`` and ``sum_k n_k`` and sets ``w + sum n_k u_k / sum n_k``. In the
simulator the wrapper plays the clients' part too; on a real fleet the device agent runs
``SecAggClient`` and the server runs :func:`~tandem.federated.secagg.unmask_sum`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from tandem.core.errors import ConfigError
from tandem.federated.hooks import update_of, with_update
from tandem.federated.robust import flatten, unflatten
from tandem.federated.secagg import DEFAULT_RING, Ring, SecAggClient, unmask_sum
from tandem.federated.strategies._common import check_results
from tandem.federated.strategy import ClientResult, Params, RoundPlan, Strategy, get_strategy, register_strategy


@dataclass
class SecAggRun:
    """What one round cost: the decoded sum, bytes per phase (all clients together) and seconds."""

    total: np.ndarray
    bytes_up: dict[str, int] = field(default_factory=dict)
    bytes_down: dict[str, int] = field(default_factory=dict)
    client_s: float = 0.0
    server_s: float = 0.0
    survivors: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)


def secure_sum(
    inputs: Mapping[int, np.ndarray],
    *,
    threshold: int | None = None,
    dropped: Sequence[int] = (),
    ring: Ring = DEFAULT_RING,
) -> SecAggRun:
    """Run the protocol over ``inputs`` (client id -> float vector); clients in ``dropped`` leave after step 1.

    ``threshold`` defaults to ``floor(2n/3) + 1``. Returns the sum of the survivors' inputs (exact up to the
    fixed-point rounding of each input) and the measured costs.
    """
    ids = sorted(int(c) for c in inputs)
    n = len(ids)
    if n < 2:
        raise ConfigError(f"secure_sum: needs at least 2 clients, got {n}")
    t = threshold if threshold is not None else 2 * n // 3 + 1
    dims = {np.asarray(v).size for v in inputs.values()}
    if len(dims) != 1:
        raise ConfigError(f"secure_sum: inputs have different sizes {sorted(dims)}")
    gone = set(int(c) for c in dropped)
    if not gone <= set(ids):
        raise ConfigError(f"secure_sum: dropped clients {sorted(gone - set(ids))} are not participants")
    survivors = [c for c in ids if c not in gone]
    if len(survivors) < t:
        raise ConfigError(f"secure_sum: {len(survivors)} survivors, below the threshold {t}; the round fails")
    up: dict[str, int] = {}
    down: dict[str, int] = {}
    tic = time.perf_counter()
    clients = {c: SecAggClient(c, ring=ring) for c in ids}
    keys = {c: cl.public_key for c, cl in clients.items()}
    up["advertise"] = 32 * n
    down["advertise"] = 32 * n * n
    outbox = {c: cl.share_keys(keys, t) for c, cl in clients.items()}
    up["shares"] = sum(len(b) for box in outbox.values() for b in box.values())
    down["shares"] = up["shares"]
    for v, cl in clients.items():
        cl.receive_shares({u: box[v] for u, box in outbox.items() if v in box})
    masked = {c: clients[c].masked_input(np.asarray(inputs[c])) for c in survivors}
    up["masked_input"] = sum(y.nbytes for y in masked.values())
    reveals = [clients[c].unmask_shares(survivors, sorted(gone)) for c in survivors]
    up["unmask"] = sum(len(b) for r in reveals for part in r.values() for b in part.values())
    down["unmask"] = 4 * len(ids) * len(survivors)  # the survivor/dropped lists, as int32 ids
    client_s = time.perf_counter() - tic
    tic = time.perf_counter()
    total = unmask_sum(masked, keys, reveals, t, ring=ring)
    return SecAggRun(total, up, down, client_s, time.perf_counter() - tic, survivors, sorted(gone))


@register_strategy
class SecureAggregation(Strategy):
    """FedAvg over secure aggregation (module docstring); delegates planning and state to ``inner``.

    Parameters
    ----------
    inner:
        Strategy (or name) that turns the securely averaged update into the next model (default FedAvg).
    threshold_ratio:
        ``t = ceil(threshold_ratio * n)`` of the round's ``n`` clients must survive (default 2/3).
    ring:
        :class:`~tandem.federated.secagg.Ring` (default 64-bit, 24 fraction bits); inputs are ``n_k * u_k``,
        so ``sum_k n_k |u_k|`` must stay within the ring's range.
    dropout_after_masking:
        Share of each round's clients that go offline after step 1 (simulation of late dropouts; seeded).
    seed:
        Seed of which clients drop.

    Learned state: ``runs_`` (per round: bytes per phase, client/server seconds, survivors, dropped).
    """

    name = "secagg"

    def __init__(
        self,
        inner: Strategy | str = "fedavg",
        *,
        threshold_ratio: float = 2 / 3,
        dropout_after_masking: float = 0.0,
        ring: Ring = DEFAULT_RING,
        seed: int = 0,
    ) -> None:
        self.inner = get_strategy(inner) if isinstance(inner, str) else inner
        if not 0 < threshold_ratio <= 1 or not 0 <= dropout_after_masking < 1:
            raise ConfigError("secagg: need 0 < threshold_ratio <= 1 and 0 <= dropout_after_masking < 1")
        super().__init__(self.inner.objective)
        self.threshold_ratio, self.dropout, self.ring, self.seed = threshold_ratio, dropout_after_masking, ring, seed
        self.name = f"{self.inner.name}+secagg"  # type: ignore[misc]
        self.runs_: list[dict[str, Any]] = []

    def initialize(self, params: Params, *, n_clients: int | None = None) -> None:
        self.inner.initialize(params, n_clients=n_clients)

    def configure_round(self, rnd: int, params: Params) -> RoundPlan:
        return self.inner.configure_round(rnd, params)

    def state_dict(self) -> dict[str, Any]:
        return {"inner": self.inner.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.inner.load_state_dict(state.get("inner", {}))

    def aggregate(self, rnd: int, params: Params, results: Sequence[ClientResult]) -> Params:
        keys = [k for k in params if k not in set(self.inner.objective.personal_keys)]
        check_results(self.name, rnd, params, results, keys=keys)
        inputs = {
            int(r.client_id): np.append(
                flatten(update_of(r, params), keys).double().numpy() * r.n_examples, r.n_examples
            )
            for r in results
        }
        n = len(inputs)
        rng = np.random.default_rng([self.seed, rnd])
        n_drop = min(round(self.dropout * n), n - math.ceil(self.threshold_ratio * n))
        dropped = rng.choice(sorted(inputs), max(n_drop, 0), replace=False).tolist() if n > 1 else []
        if n < 2:
            raise ConfigError(f"{self.name}: round {rnd} has {n} client; secure aggregation needs 2 or more")
        run = secure_sum(inputs, threshold=math.ceil(self.threshold_ratio * n), dropped=dropped, ring=self.ring)
        self.runs_.append(
            {
                "round": rnd,
                "bytes_up": run.bytes_up,
                "bytes_down": run.bytes_down,
                "client_s": run.client_s,
                "server_s": run.server_s,
                "dropped": run.dropped,
            }
        )
        weight = float(round(run.total[-1]))
        mean = torch.from_numpy(run.total[:-1] / weight).to(torch.float32)
        merged = with_update(
            ClientResult(-1, int(weight), {k: params[k] for k in keys}), params, unflatten(mean, params, keys)
        )
        return self.inner.aggregate(rnd, params, [merged])
