"""THE federated round loop: select -> plan -> send -> local train -> collect -> validate -> aggregate.

Written once, over a :class:`~tandem.transport.base.Transport`, and run by everyone:

* the simulator (:class:`tandem.sim.FederatedSimulation`) runs it over the in-process transport, with
  simulated devices that train batched behind it (:class:`tandem.sim.SimulatedDevices`);
* ``tandem fl run --transport http`` runs it over :class:`~tandem.transport.http.HttpTransport` against a
  real server whose device agents train on their own (:class:`RemoteDevices`);
* the server's round manager runs the same steps (:meth:`RoundLoop.plan_message`,
  :meth:`RoundLoop.aggregate`) event by event, as updates reach its database.

A strategy never knows which (DESIGN principle 1). Client ids are the population's indices; a transport
may address devices by other ids (a server assigns them at enrolment), so :meth:`RoundLoop.run_round`
takes an optional ``addresses`` map from client id to device id and gives results back by client id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike

from tandem.core.errors import ConfigError, PayloadError
from tandem.core.messages import ClientUpdate
from tandem.federated.strategy import ClientResult, Params, RoundPlan, Strategy
from tandem.federated.wire import PLAN_KIND, check_result_shapes, decode_result, encode_plan, plan_context
from tandem.transport.base import Transport
from tandem.transport.signing import ArtifactSigner

log = logging.getLogger(__name__)


class Devices(Protocol):
    """The device side of a round as the loop sees it.

    :meth:`train` is called after the plan was sent to ``device_ids``; simulated devices train right
    there and put their updates on the transport, real agents need nothing from it (they poll their
    mailbox). It returns the time by which the cloud closes the round (the transport's clock, e.g.
    simulated seconds), or ``None`` to take what arrives until every device answered or ``wait_s``
    (wall clock) ran out.
    """

    wait_s: float

    def train(self, transport: Transport, rnd: int, device_ids: np.ndarray) -> float | None: ...


@dataclass
class RemoteDevices:
    """Devices that train on their own (real agents): the loop waits up to ``wait_s`` for their updates."""

    wait_s: float = 300.0
    poll_s: float = 0.05

    def train(self, transport: Transport, rnd: int, device_ids: np.ndarray) -> float | None:
        return None


@dataclass
class Collected:
    """What :meth:`RoundLoop.collect` took from the transport."""

    results: list[ClientResult] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)
    late: list[int] = field(default_factory=list)
    bytes_up: int = 0


@dataclass
class RoundOutcome:
    """What one round did: the new parameters, the results it aggregated and the updates it refused."""

    params: Params
    results: list[ClientResult]
    refused: dict[int, str] = field(default_factory=dict)
    late: list[int] = field(default_factory=list)
    """Devices whose update of an earlier round arrived after that round had closed (dropped)."""
    plan_bytes: int = 0
    bytes_up: int = 0
    aggregated: bool = False


class RoundLoop:
    """The cloud side of federated rounds with ``strategy``, over whatever transport it is handed.

    Parameters
    ----------
    strategy:
        Any :class:`~tandem.federated.strategy.Strategy`.
    codec, compress:
        How plans travel down (updates travel as each device encodes them).
    signer:
        Signs every plan when given; devices holding the public key refuse unsigned or tampered plans.
    """

    def __init__(
        self,
        strategy: Strategy,
        *,
        codec: str = "fp32",
        compress: str | None = None,
        signer: ArtifactSigner | None = None,
    ) -> None:
        if not isinstance(strategy, Strategy):
            raise ConfigError(f"RoundLoop: strategy must be a Strategy, got {type(strategy).__name__}")
        self.strategy = strategy
        self.codec, self.compress, self.signer = codec, compress, signer

    # -- the steps ----------------------------------------------------------------------------------
    def plan(self, rnd: int, params: Params) -> RoundPlan:
        """Step 2: the strategy's plan of round ``rnd``."""
        return self.strategy.configure_round(rnd, params)

    def plan_message(
        self, rnd: int, params: Params, extra_meta: Mapping[str, Any] | None = None, plan: RoundPlan | None = None
    ) -> tuple[bytes, dict[str, Any]]:
        """The payload and message meta of round ``rnd``'s plan (signed if the loop has a signer)."""
        plan = self.plan(rnd, params) if plan is None else plan
        payload = encode_plan(plan, codec=self.codec, compress=self.compress)
        meta: dict[str, Any] = {"round": int(rnd), **dict(extra_meta or {})}
        if self.signer is not None:
            signed = self.signer.sign(payload, plan_context(rnd))
            meta.update(sha256=signed.sha256, signature=signed.signature, key_id=signed.key_id)
        return payload, meta

    def send(self, transport: Transport, plan: RoundPlan, device_ids: ArrayLike, **extra_meta: Any) -> int:
        """Step 3: broadcast ``plan`` to ``device_ids``; returns the payload size in bytes (per device)."""
        payload, meta = self.plan_message(plan.round, plan.params, extra_meta, plan=plan)
        transport.broadcast(np.asarray(device_ids, dtype=np.int64), PLAN_KIND, payload, meta)
        return len(payload)

    def collect(
        self,
        transport: Transport,
        plan: RoundPlan,
        expected: Mapping[int, int],
        *,
        until: float | None = None,
        wait_s: float = 0.0,
        poll_s: float = 0.05,
    ) -> Collected:
        """Steps 5-6: take round ``plan.round``'s updates from the devices in ``expected`` (device id ->
        client id), decode and validate them.

        Updates of earlier rounds (stragglers that missed their deadline) are dropped as ``late``. Updates
        from devices not in the round, repeated, malformed or shaped unlike the plan are refused (logged,
        in ``refused`` by device id) and never reach the strategy. With ``wait_s`` > 0 the loop polls until
        every expected device answered or ``wait_s`` ran out.
        """
        got = Collected()
        results: dict[int, ClientResult] = {}
        stop = time.monotonic() + wait_s
        while True:
            for message in transport.receive_on_cloud(ClientUpdate.KIND, until=until):
                got.bytes_up += message.n_bytes
                device = int(message.device_id)
                if isinstance(message.meta.get("round"), int) and message.meta["round"] < plan.round:
                    got.late.append(device)
                    continue
                reason = self._accept(message, plan, expected, results)
                if reason is not None:
                    got.refused[device] = reason
                    log.warning("round %d: refused update of device %s: %s", plan.round, device, reason)
            answered = set(results) | {expected[d] for d in got.refused if d in expected}
            if wait_s <= 0 or len(answered) >= len(expected) or time.monotonic() >= stop:
                break
            time.sleep(poll_s)
        got.results = [results[c] for c in sorted(results)]
        return got

    def _accept(
        self, message: Any, plan: RoundPlan, expected: Mapping[int, int], results: dict[int, ClientResult]
    ) -> str | None:
        device = int(message.device_id)
        if device not in expected:
            return "not selected for this round"
        try:
            update = ClientUpdate.from_wire(device, message.payload, message.meta)
            if update.round != plan.round:
                return f"update of round {update.round}, not {plan.round}"
            if expected[device] in results:
                return "repeated update"
            result = decode_result(update)  # refuses NaN/Inf
            check_result_shapes(result, plan, check_finite=False)
        except PayloadError as exc:
            return str(exc)
        result.client_id = expected[device]
        results[expected[device]] = result
        return None

    def aggregate(self, rnd: int, params: Params, results: Sequence[ClientResult]) -> Params:
        """Step 7: the strategy's new global parameters, or ``params`` unchanged when no client contributed."""
        if not results or sum(r.n_examples for r in results) <= 0:
            return params
        ordered = sorted(results, key=lambda r: r.client_id)  # arrival order differs between runtimes
        return self.strategy.aggregate(rnd, params, ordered)

    # -- the whole round ------------------------------------------------------------------------------
    def run_round(
        self,
        rnd: int,
        params: Params,
        transport: Transport,
        selected: ArrayLike,
        devices: Devices,
        *,
        addresses: Mapping[int, int] | None = None,
    ) -> RoundOutcome:
        """One round with the clients ``selected`` (step 1 is the caller's: it owns the population).

        ``addresses`` maps a client id to its device id on ``transport`` (identity when ``None``).
        """
        clients = np.asarray(selected, dtype=np.int64).reshape(-1)
        device_ids = clients if addresses is None else np.array([addresses[int(c)] for c in clients], np.int64)
        plan = self.plan(rnd, params)
        plan_bytes = self.send(transport, plan, device_ids)
        until = devices.train(transport, rnd, device_ids)
        expected = {int(d): int(c) for d, c in zip(device_ids, clients, strict=True)}
        wait_s = 0.0 if until is not None else devices.wait_s
        got = self.collect(
            transport, plan, expected, until=until, wait_s=wait_s, poll_s=getattr(devices, "poll_s", 0.05)
        )
        new_params = self.aggregate(rnd, params, got.results)
        aggregated = sum(r.n_examples for r in got.results) > 0
        return RoundOutcome(new_params, got.results, got.refused, got.late, plan_bytes, got.bytes_up, aggregated)
