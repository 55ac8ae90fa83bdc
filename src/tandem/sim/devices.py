"""Simulated devices: the device side of the round loop, for a whole population, trained batched.

:class:`SimulatedDevices` plays every selected device of a round over an
:class:`~tandem.transport.inprocess.InProcessTransport`: each device takes its plan from its mailbox
(the bytes the cloud sent; decoded once per broadcast, since every recipient got the same bytes),
trains with a client runtime (batched or sequential, :mod:`tandem.sim.runtime`), encodes its result in
the one wire format (:func:`tandem.federated.wire.encode_result`) and sends it to the cloud, whose
:class:`~tandem.federated.rounds.RoundLoop` decodes and validates it as it would a real device's.

Time: a device starts computing when its plan has arrived and it is free; compute takes training FLOPs
over its GFLOP/s (:func:`tandem.fleet.device_compute_time_s`); the upload queues behind. With a
``deadline_s``, devices that cannot finish downloading and computing in time do not train, and the
cloud closes the round at the deadline (uploads landing later are refused as late); otherwise the cloud
closes the round when the last update lands. ``dropout`` takes a random share of the selected devices
offline for the round (seeded by round); the cloud does not wait for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tandem.core.errors import ConfigError
from tandem.federated.client_runtime import Runtime
from tandem.federated.strategy import RoundPlan
from tandem.federated.wire import PLAN_KIND, decode_plan, encode_results
from tandem.fleet import FleetProfiles, device_compute_time_s
from tandem.transport.base import Transport
from tandem.transport.inprocess import InProcessTransport

OFFLINE_STREAM = 2**31 - 1


@dataclass
class DeviceRound:
    """What the simulated devices did in one round (ids are device = client ids)."""

    offline: np.ndarray
    late: np.ndarray
    trained: np.ndarray
    started_at: float = 0.0
    closes_at: float = 0.0
    upload_arrivals: dict[int, float] = field(default_factory=dict)


class SimulatedDevices:
    """Every device of a simulated population, answering plans through an in-process transport.

    Parameters
    ----------
    runtime:
        A client runtime (``fit(plan, client_ids)``, ``flops_per_example``; :mod:`tandem.sim.runtime`).
    sizes:
        Function ``client_ids -> examples per client`` (a ``ClientData``'s ``sizes``), for compute time.
    fleet:
        Device profiles for compute time, or ``None`` (computing takes no simulated time).
    deadline_s, dropout, seed:
        Round deadline in simulated seconds, share of selected devices offline, seed of the dropouts.
    codec, compress:
        How updates travel up.
    """

    wait_s = 0.0

    def __init__(
        self,
        runtime: Runtime,
        sizes: Callable[[np.ndarray], np.ndarray],
        *,
        fleet: FleetProfiles | None = None,
        deadline_s: float | None = None,
        dropout: float = 0.0,
        seed: int = 0,
        codec: str = "fp32",
        compress: str | None = None,
    ) -> None:
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"SimulatedDevices: dropout must be in [0, 1), got {dropout}")
        if deadline_s is not None and not deadline_s > 0:
            raise ConfigError(f"SimulatedDevices: deadline_s must be > 0, got {deadline_s}")
        self.runtime = runtime
        self.sizes = sizes
        self.fleet = fleet
        self.deadline_s = deadline_s
        self.dropout = float(dropout)
        self.seed = int(seed)
        self.codec, self.compress = codec, compress
        self.last = DeviceRound(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))

    def train(self, transport: Transport, rnd: int, device_ids: np.ndarray) -> float:
        """Take the plans, train, send the updates; returns the simulated time the cloud closes the round."""
        if not isinstance(transport, InProcessTransport):
            raise ConfigError("SimulatedDevices run over an InProcessTransport (real agents train on their own)")
        ids = np.asarray(device_ids, dtype=np.int64)
        start = transport.clock.now
        plans, arrivals = self._take_plans(transport, ids)
        offline = np.zeros(len(ids), dtype=bool)
        if self.dropout > 0:
            offline = np.random.default_rng([self.seed, rnd, OFFLINE_STREAM]).random(len(ids)) < self.dropout
        online = ids[~offline]
        plan = plans[0] if plans else None
        compute_s = np.zeros(len(online))
        if self.fleet is not None and plan is not None and len(online):
            flops = self.sizes(online).astype(np.float64) * plan.objective.epochs * self.runtime.flops_per_example
            compute_s = device_compute_time_s(flops, self.fleet, online)
        ready = arrivals[~offline] + compute_s
        late = ready - start > self.deadline_s if self.deadline_s is not None else np.zeros(len(online), bool)
        trained = online[~late]
        upload_arrivals: dict[int, float] = {}
        if len(trained) and plan is not None:
            transport.clock.occupy(trained, compute_s[~late])
            updates = encode_results(rnd, self.runtime.fit(plan, trained), codec=self.codec, compress=self.compress)
            wires = [update.to_wire() for update in updates]
            arrives = transport.send_many_to_cloud(trained, "update", [w[1] for w in wires], [w[2] for w in wires])
            upload_arrivals = dict(zip(trained.tolist(), arrives.tolist(), strict=True))
        closes = start + self.deadline_s if self.deadline_s is not None else start
        if upload_arrivals:
            last = max(upload_arrivals.values())
            waited = self.deadline_s is not None and (bool(late.any()) or last - start > self.deadline_s)
            closes = closes if waited else last
        self.last = DeviceRound(ids[offline], online[late], trained, start, closes, upload_arrivals)
        return closes

    def _take_plans(self, transport: InProcessTransport, ids: np.ndarray) -> tuple[list[RoundPlan], np.ndarray]:
        """Each device's plan (decoded once per distinct payload) and when it arrived."""
        decoded: dict[int, tuple[bytes, RoundPlan]] = {}  # the payload is kept so its id stays unique
        plans: list[RoundPlan] = []
        arrivals = np.zeros(len(ids))
        for k, (device, messages) in enumerate(zip(ids.tolist(), transport.receive_many_on_device(ids, PLAN_KIND),
                                                   strict=True)):
            if not messages:
                raise ConfigError(f"simulated device {device} was selected but received no plan")
            message = messages[-1]
            key = id(message.payload)
            if key not in decoded:
                decoded[key] = (message.payload, decode_plan(message.payload))
            plans.append(decoded[key][1])
            arrivals[k] = message.arrives_at
        if len({id(p) for p in plans}) > 1:
            raise ConfigError("simulated devices of one round received different plans")
        return plans, arrivals
