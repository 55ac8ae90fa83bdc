"""Server-managed federated rounds: select live devices, accept updates until a quorum or a deadline, aggregate.

A round is a row in ``rounds`` plus its plan in the mailbox, written in one transaction. A round selects
live devices only (their lease is current, see :class:`~tandem.server.store.Store`), over-selecting
``ceil(clients_per_round * over_selection)`` of them to absorb dropouts. Devices take the plan, train, and
send updates that :class:`~tandem.server.mailbox.ServerTransport` checks and commits one by one.
:meth:`RoundManager.tick` closes the open round as soon as a quorum of the selected devices answered (or all
of them), or at its deadline; an admin may close it at any time. :meth:`RoundManager.close` aggregates the
stored updates with the round's strategy through the shared :class:`~tandem.federated.rounds.RoundLoop` (the
round loop every runtime shares) and, in one transaction, registers the new model version, stores the
strategy's state, withdraws the plans no device took and marks the round closed (only one closer wins).
Nothing lives only in memory: after a crash, :meth:`RoundManager.resume` rebuilds the strategy from the last
closed round and the open round goes on with every acknowledged update.

Rounds open on an admin's call (:meth:`RoundManager.open`) or by a :class:`~tandem.server.policy.RoundPolicy`
(:meth:`RoundManager.auto_open`, called by the server's ticker).
"""

from __future__ import annotations

import dataclasses
import io
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from tandem.core.errors import ConfigError
from tandem.core.messages import ClientUpdate
from tandem.federated.rounds import RoundLoop
from tandem.federated.strategy import LocalObjective, Params, Strategy, get_strategy
from tandem.federated.wire import PLAN_KIND, decode_result
from tandem.server import db
from tandem.server.errors import Rejected, rejected
from tandem.server.mailbox import ServerTransport
from tandem.server.registry import ModelRegistry, NotFoundError
from tandem.server.store import Store
from tandem.transport.signing import ArtifactSigner

if TYPE_CHECKING:
    from tandem.server.policy import RoundPolicy

log = logging.getLogger(__name__)

AggregatedHook = Callable[[int, Params], None]


@dataclass
class RoundSpec:
    """What a round is asked to be (by an admin or a policy; validated by :meth:`check`).

    ``devices``: exactly these (enrolled, active) devices; otherwise the live ones: all of them, or
    ``ceil(clients_per_round * over_selection)`` drawn at random (``clients_per_round`` live devices at
    least). ``quorum``: the fraction of the selected devices whose updates close the round early (``None``:
    all of them, when ``close_when_complete``). ``min_updates``: fewer updates at the close publish no version.
    """

    model_id: str
    strategy: str = "fedavg"
    strategy_kwargs: dict[str, Any] = field(default_factory=dict)
    objective: dict[str, Any] = field(default_factory=dict)
    devices: list[int] | None = None
    clients_per_round: int | None = None
    deadline_s: float = 300.0
    min_updates: int = 1
    close_when_complete: bool = True
    codec: str = "fp32"
    quorum: float | None = None
    over_selection: float = 1.0

    def check(self) -> Strategy:
        """Raise :class:`ConfigError` naming the first bad field; returns the strategy the spec builds."""
        if not 0 < self.deadline_s <= 7 * 86400:
            raise ConfigError(f"deadline_s must be in (0, 7 days], got {self.deadline_s}")
        if self.min_updates < 0:
            raise ConfigError(f"min_updates must be >= 0, got {self.min_updates}")
        if self.clients_per_round is not None and self.clients_per_round < 1:
            raise ConfigError(f"clients_per_round must be >= 1, got {self.clients_per_round}")
        if self.quorum is not None and not 0 < self.quorum <= 1:
            raise ConfigError(f"quorum must be a fraction in (0, 1] of the selected devices, got {self.quorum}")
        if not 1 <= self.over_selection <= 10:
            raise ConfigError(f"over_selection must be in [1, 10], got {self.over_selection}")
        if self.over_selection > 1 and self.clients_per_round is None:
            raise ConfigError("over_selection needs clients_per_round (without it every live device is selected)")
        return _build_strategy(self.strategy, self.strategy_kwargs, self.objective)


def quorum_of(n_selected: int, quorum: float | None) -> int:
    """How many updates of ``n_selected`` devices close a round early (all of them when ``quorum`` is None)."""
    if quorum is None:
        return n_selected
    return min(n_selected, max(1, math.ceil(quorum * n_selected - 1e-9)))


def _build_strategy(name: str, kwargs: Mapping[str, Any], objective: Mapping[str, Any]) -> Strategy:
    try:
        obj = LocalObjective(**{**objective, "personal_keys": tuple(objective.get("personal_keys", ()))})
        return get_strategy(name, **dict(kwargs), **({"objective": obj} if objective else {}))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"strategy {name!r}: {exc}") from None


class RoundManager:
    """Runs one federated round at a time over ``transport`` with models from ``registry``.

    ``on_aggregated(round, params)`` is called after each round's new version is stored.
    """

    def __init__(
        self,
        store: Store,
        registry: ModelRegistry,
        transport: ServerTransport,
        signer: ArtifactSigner,
        *,
        on_aggregated: AggregatedHook | None = None,
    ) -> None:
        self.store, self.registry, self.transport, self.signer = store, registry, transport, signer
        self.on_aggregated = on_aggregated
        self._lock = threading.RLock()
        self._driver: RoundLoop | None = None
        self._open: dict[str, Any] | None = None
        self.policy_status = ""  # why the policy did (not) open a round at its last look (for admins)
        transport.round_status = self.status_of

    # -- queries ----------------------------------------------------------------------------------
    def status_of(self, rnd: int) -> str | None:
        with self.store.read() as conn:
            return conn.execute(select(db.rounds.c.status).where(db.rounds.c.round == rnd)).scalar()

    def get(self, rnd: int) -> dict[str, Any]:
        """Public description of round ``rnd`` with the devices whose updates are stored."""
        r = db.rounds.c
        with self.store.read() as conn:
            row = conn.execute(select(db.rounds).where(r.round == rnd)).first()
            if row is None:
                raise NotFoundError(f"no round {rnd}")
            u = db.uploads.c
            got = conn.execute(select(u.device_id).where(u.kind == "update", u.round == rnd).order_by(u.id)).scalars()
            received = [int(d) for d in got]
        out = {k: v for k, v in row._mapping.items() if k != "strategy_state"}
        conf = out["strategy_kwargs"]
        quorum = conf.get("quorum")
        if quorum is None and conf.get("close_when_complete", True):
            quorum = len(out["devices"])
        extra = {
            "quorum": quorum,
            "opened_by": conf.get("opened_by", "admin"),
            "closed_by": conf.get("closed_by"),
            "clients_per_round": conf.get("clients_per_round"),
        }
        return {**out, **extra, "received": received}

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest ``limit`` rounds, newest first."""
        with self.store.read() as conn:
            ids = conn.execute(select(db.rounds.c.round).order_by(db.rounds.c.round.desc()).limit(int(limit))).scalars()
            rounds = [int(r) for r in ids]
        return [self.get(r) for r in rounds]

    def counts(self) -> dict[str, Any]:
        """Rounds in the database, the newest closed one and when the newest round opened."""
        r = db.rounds.c
        with self.store.read() as conn:
            n, opened = conn.execute(select(func.count(), func.max(r.opened_at))).one()
            closed = conn.execute(select(func.max(r.round)).where(r.status == "closed")).scalar()
        return {"rounds": int(n), "last_closed": None if closed is None else int(closed), "last_opened_at": opened}

    def current(self) -> dict[str, Any] | None:
        """The open round, or ``None``."""
        with self.store.read() as conn:
            rnd = conn.execute(select(db.rounds.c.round).where(db.rounds.c.status == "open")).scalar()
        return None if rnd is None else self.get(rnd)

    # -- lifecycle --------------------------------------------------------------------------------
    def open(self, spec: RoundSpec, *, opened_by: str = "admin") -> dict[str, Any]:
        """Open a round: pick devices, sign and store the plan for them, in one transaction."""
        with self._lock:
            if self.current() is not None:
                raise rejected(409, "round_open", "a round is already open; close it first")
            info = self.registry.info(spec.model_id)
            strategy = spec.check()
            params = {k: v.clone() for k, v in self.registry.state(spec.model_id, info.version).items()}
            self._load_strategy_state(strategy, spec.model_id, params)
            devices = self._pick_devices(spec)
            driver = RoundLoop(strategy, codec=spec.codec, signer=self.signer)
            with self.store.write() as conn:
                last = conn.execute(select(func.max(db.rounds.c.round))).scalar()
                rnd = 1 if last is None else int(last) + 1
                deadline = time.time() + float(spec.deadline_s)
                payload, meta = driver.plan_message(
                    rnd, params, {"deadline": deadline, "model_id": spec.model_id, "version": info.version}
                )
                conn.execute(
                    insert(db.rounds).values(
                        round=rnd,
                        model_id=spec.model_id,
                        base_version=info.version,
                        status="open",
                        strategy=spec.strategy,
                        strategy_kwargs={
                            "kwargs": spec.strategy_kwargs,
                            "objective": spec.objective,
                            "codec": spec.codec,
                            "close_when_complete": spec.close_when_complete,
                            "quorum": quorum_of(len(devices), spec.quorum) if spec.quorum is not None else None,
                            "clients_per_round": spec.clients_per_round,
                            "over_selection": spec.over_selection,
                            "opened_by": opened_by,
                        },
                        devices=[int(d) for d in devices],
                        deadline=deadline,
                        min_updates=spec.min_updates,
                        opened_at=time.time(),
                    )
                )
                self.transport.store_delivery(conn, devices, PLAN_KIND, payload, meta)
            self._driver = driver
            return self.get(rnd)

    def _pick_devices(self, spec: RoundSpec) -> list[int]:
        """The listed devices (enrolled and active), else live ones: all, or an over-selected random draw."""
        if spec.devices is not None:
            active = self.store.known_devices(spec.devices)
            unknown = sorted(set(spec.devices) - active)
            if unknown:
                raise rejected(404, "unknown_device", f"devices {unknown[:5]} are not enrolled and active")
            return sorted({int(d) for d in spec.devices})
        live = self.store.live_devices()
        lease = f"checked in within the last {self.store.lease_s:g} s"
        if not live:
            raise rejected(409, "no_live_devices", f"no enrolled, active device {lease} to run a round with")
        if spec.clients_per_round is None:
            return live
        if spec.clients_per_round > len(live):
            raise rejected(
                409, "not_enough_live_devices",
                f"clients_per_round is {spec.clients_per_round} but only {len(live)} devices {lease}",
            )
        n = min(len(live), math.ceil(spec.clients_per_round * spec.over_selection - 1e-9))
        return sorted(int(d) for d in np.random.default_rng().choice(live, n, replace=False))

    def _load_strategy_state(self, strategy: Strategy, model_id: str, params: Params) -> None:
        r = db.rounds.c
        with self.store.read() as conn:
            blob = conn.execute(
                select(r.strategy_state)
                .where(
                    r.model_id == model_id,
                    r.strategy == strategy.name,
                    r.status == "closed",
                    r.strategy_state.is_not(None),
                )
                .order_by(r.round.desc())
                .limit(1)
            ).scalar()
        strategy.initialize(params)
        if blob is not None:
            strategy.load_state_dict(torch.load(io.BytesIO(blob), weights_only=True))

    def _driver_for(self, row: Mapping[str, Any]) -> RoundLoop:
        if self._driver is not None:
            return self._driver
        conf = row["strategy_kwargs"]
        strategy = _build_strategy(row["strategy"], conf["kwargs"], conf["objective"])
        params = self.registry.state(row["model_id"], row["base_version"])
        self._load_strategy_state(strategy, row["model_id"], params)
        strategy.configure_round(row["round"], params)  # strategies may set per-round state here
        self._driver = RoundLoop(strategy, codec=conf["codec"], signer=self.signer)
        return self._driver

    def resume(self) -> dict[str, Any] | None:
        """After a restart: rebuild the open round's strategy (nothing else is needed); returns the round."""
        with self._lock:
            row = self.current()
            if row is not None:
                self._driver_for(row)
            return row

    def close(self, rnd: int, *, reason: str = "admin") -> dict[str, Any]:
        """Aggregate round ``rnd``'s stored updates, publish the new version and close the round atomically.

        ``reason`` (``admin``, ``quorum``, ``complete``, ``deadline``) is kept with the round. Plans of the round
        that no device has taken are withdrawn. If another process closed the round first, nothing is written
        and this raises ``round_closed`` (409).
        """
        with self._lock:
            row = self.get(rnd)
            if row["status"] != "open":
                raise rejected(409, "round_closed", f"round {rnd} is already closed")
            driver = self._driver_for(row)
            params = {k: v.clone() for k, v in self.registry.state(row["model_id"], row["base_version"]).items()}
            spec = self.registry.info(row["model_id"]).spec
            conf = {**row["strategy_kwargs"], "closed_by": reason}
            with self.store.write() as conn:
                # Lock the round's row first: an update being stored holds it shared (ServerTransport), so the
                # updates read next are all that were acknowledged, and any later one sees the round closed.
                locked = select(db.rounds.c.status).where(db.rounds.c.round == rnd).with_for_update()
                if conn.execute(locked).scalar() != "open":  # another process closed it while this one waited
                    raise rejected(409, "round_closed", f"round {rnd} is already closed")
                results = self._results(rnd)
                new_version = None
                if len(results) >= max(row["min_updates"], 1):
                    params = driver.aggregate(rnd, params, results)
                state = io.BytesIO()
                torch.save(driver.strategy.state_dict(), state)
                if len(results) >= max(row["min_updates"], 1):
                    new_version = self.registry.insert_version(
                        conn,
                        row["model_id"],
                        params,
                        spec,
                        {"round": rnd, "strategy": row["strategy"], "n_updates": len(results)},
                    )
                done = conn.execute(
                    update(db.rounds)
                    .where(db.rounds.c.round == rnd, db.rounds.c.status == "open")
                    .values(
                        status="closed",
                        closed_at=time.time(),
                        result_version=new_version,
                        n_updates=len(results),
                        strategy_state=state.getvalue(),
                        strategy_kwargs=conf,
                    )
                )
                if done.rowcount != 1:  # another process closed it first: roll back the version too
                    raise rejected(409, "round_closed", f"round {rnd} is already closed")
                d, r = db.deliveries.c, db.recipients.c
                plans = select(d.id).where(d.kind == PLAN_KIND, d.round == rnd).scalar_subquery()
                withdrawn = update(db.recipients).where(r.delivery_id.in_(plans), r.taken.is_(False))
                conn.execute(withdrawn.values(taken=True))
            self._driver = None
            if new_version is not None and self.on_aggregated is not None:
                self.on_aggregated(rnd, params)
            return self.get(rnd)

    def _results(self, rnd: int) -> list:
        u = db.uploads.c
        with self.store.read() as conn:
            rows = conn.execute(select(u.device_id, u.payload, u.meta).where(u.kind == "update", u.round == rnd)).all()
        return [decode_result(ClientUpdate.from_wire(r.device_id, r.payload, r.meta)) for r in rows]

    def tick(self) -> int | None:
        """Close the open round if a quorum or every selected device answered, or its deadline passed; returns
        the closed round."""
        row = self.current()
        if row is None:
            return None
        received = set(row["received"])
        complete = row["strategy_kwargs"].get("close_when_complete", True) and set(row["devices"]) <= received
        quorum = row["strategy_kwargs"].get("quorum")
        reason = (
            "complete" if complete
            else "quorum" if quorum is not None and len(received) >= quorum
            else "deadline" if time.time() >= row["deadline"]
            else None
        )
        if reason is None:
            return None
        try:
            self.close(row["round"], reason=reason)
        except Rejected as exc:
            if exc.code != "round_closed":
                raise
        return row["round"]

    def auto_open(self, policy: RoundPolicy, now: float | None = None) -> dict[str, Any] | None:
        """Open the policy's next round if it is due (no round open, enough live devices, its time come);
        returns the round opened. Why it did not is kept in :attr:`policy_status` (and logged when it changes)."""
        now = time.time() if now is None else now
        with self._lock:
            if self.current() is not None:
                return None
            counts = self.counts()
            n_live = len(self.store.live_devices(now))
            waiting = policy.waiting_for(now, counts["rounds"], counts["last_opened_at"], n_live)
            if waiting is not None:
                self._policy_says(waiting)
                return None
            try:
                row = self.open(policy.spec, opened_by="policy")
            except IntegrityError:  # another server process opened this round number first
                return None
            except (Rejected, NotFoundError, ConfigError) as exc:
                self._policy_says(f"cannot open a round: {getattr(exc, 'message', None) or exc}", warn=True)
                return None
        self._policy_says(f"opened round {row['round']} with {len(row['devices'])} of {n_live} live devices")
        return row

    def _policy_says(self, status: str, *, warn: bool = False) -> None:
        if status != self.policy_status:
            (log.warning if warn else log.info)("round policy: %s", status)
        self.policy_status = status


def round_spec(raw: Mapping[str, Any], fields: Sequence[str] | None = None) -> RoundSpec:
    """A :class:`RoundSpec` from a JSON mapping (unknown keys are an error)."""
    names = {f.name for f in dataclasses.fields(RoundSpec)}
    unknown = set(raw) - names
    if unknown:
        raise ConfigError(f"unknown round fields {sorted(unknown)}")
    return RoundSpec(**dict(raw))
