"""Server-managed federated rounds: configure, accept updates until a deadline, aggregate, publish.

A round is a row in ``rounds`` plus its plan in the mailbox, written in one transaction. Devices take
the plan, train, and send updates that :class:`~tandem.server.mailbox.ServerTransport` checks and commits
one by one. :meth:`RoundManager.close` (at the deadline, when every device has answered, or on demand)
aggregates the stored updates with the round's strategy through the shared
:class:`~tandem.federated.rounds.RoundLoop` (the round loop every runtime shares) and, in one transaction,
registers the new model version, stores the strategy's state and marks the round closed. Nothing lives
only in memory: after a crash, :meth:`RoundManager.resume` rebuilds the strategy from the last closed
round and the open round goes on with every acknowledged update.
"""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from sqlalchemy import func, insert, select, update

from tandem.core.errors import ConfigError
from tandem.core.messages import ClientUpdate
from tandem.federated.rounds import RoundLoop
from tandem.federated.strategy import LocalObjective, Params, Strategy, get_strategy
from tandem.federated.wire import PLAN_KIND, decode_result
from tandem.server import db
from tandem.server.errors import rejected
from tandem.server.mailbox import ServerTransport
from tandem.server.registry import ModelRegistry, NotFoundError
from tandem.server.store import Store
from tandem.transport.signing import ArtifactSigner

AggregatedHook = Callable[[int, Params], None]


@dataclass
class RoundSpec:
    """What an admin asks for when opening a round (validated by :meth:`RoundManager.open`)."""

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
        return {**out, "received": received}

    def current(self) -> dict[str, Any] | None:
        """The open round, or ``None``."""
        with self.store.read() as conn:
            rnd = conn.execute(select(db.rounds.c.round).where(db.rounds.c.status == "open")).scalar()
        return None if rnd is None else self.get(rnd)

    # -- lifecycle --------------------------------------------------------------------------------
    def open(self, spec: RoundSpec) -> dict[str, Any]:
        """Open a round: pick devices, sign and store the plan for them, in one transaction."""
        with self._lock:
            if self.current() is not None:
                raise rejected(409, "round_open", "a round is already open; close it first")
            info = self.registry.info(spec.model_id)
            if not 0 < spec.deadline_s <= 7 * 86400 or spec.min_updates < 0:
                raise ConfigError("deadline_s must be in (0, 7 days] and min_updates >= 0")
            strategy = _build_strategy(spec.strategy, spec.strategy_kwargs, spec.objective)
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
        active = [d.id for d in self.store.devices("active")]
        if spec.devices is not None:
            unknown = sorted(set(spec.devices) - set(active))
            if unknown:
                raise rejected(404, "unknown_device", f"devices {unknown[:5]} are not enrolled and active")
            chosen = sorted(set(spec.devices))
        elif spec.clients_per_round is not None:
            if not 1 <= spec.clients_per_round <= len(active):
                raise ConfigError(f"clients_per_round must be in 1..{len(active)} (active devices)")
            chosen = sorted(np.random.default_rng().choice(active, spec.clients_per_round, replace=False).tolist())
        else:
            chosen = active
        if not chosen:
            raise rejected(409, "no_devices", "no enrolled, active device to run a round with")
        return [int(d) for d in chosen]

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

    def close(self, rnd: int) -> dict[str, Any]:
        """Aggregate round ``rnd``'s stored updates, publish the new version and close the round atomically."""
        with self._lock:
            row = self.get(rnd)
            if row["status"] != "open":
                raise rejected(409, "round_closed", f"round {rnd} is already closed")
            driver = self._driver_for(row)
            params = {k: v.clone() for k, v in self.registry.state(row["model_id"], row["base_version"]).items()}
            results = self._results(rnd)
            new_version = None
            if len(results) >= max(row["min_updates"], 1):
                params = driver.aggregate(rnd, params, results)
            state = io.BytesIO()
            torch.save(driver.strategy.state_dict(), state)
            spec = self.registry.info(row["model_id"]).spec
            with self.store.write() as conn:
                if len(results) >= max(row["min_updates"], 1):
                    new_version = self.registry.insert_version(
                        conn,
                        row["model_id"],
                        params,
                        spec,
                        {"round": rnd, "strategy": row["strategy"], "n_updates": len(results)},
                    )
                conn.execute(
                    update(db.rounds)
                    .where(db.rounds.c.round == rnd)
                    .values(
                        status="closed",
                        closed_at=time.time(),
                        result_version=new_version,
                        n_updates=len(results),
                        strategy_state=state.getvalue(),
                    )
                )
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
        """Close the open round if its deadline passed or every device answered; returns the closed round."""
        row = self.current()
        if row is None:
            return None
        complete = row["strategy_kwargs"].get("close_when_complete", True) and set(row["devices"]) <= set(
            row["received"]
        )
        if complete or time.time() >= row["deadline"]:
            try:
                self.close(row["round"])
            except Exception as exc:
                if getattr(exc, "code", "") != "round_closed":
                    raise
            return row["round"]
        return None


def round_spec(raw: Mapping[str, Any], fields: Sequence[str] | None = None) -> RoundSpec:
    """A :class:`RoundSpec` from a JSON mapping (unknown keys are an error)."""
    names = {f.name for f in dataclasses.fields(RoundSpec)}
    unknown = set(raw) - names
    if unknown:
        raise ConfigError(f"unknown round fields {sorted(unknown)}")
    return RoundSpec(**dict(raw))
