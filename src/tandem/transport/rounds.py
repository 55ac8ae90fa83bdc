"""Federated rounds over any :class:`~tandem.transport.base.Transport`: the cloud side and the shared wire format.

The same :class:`RoundDriver` runs a round in the simulator (over
:class:`~tandem.transport.inprocess.InProcessTransport`), from a script against a real server (over
:class:`~tandem.transport.http.HttpTransport`) and inside the server itself (over its database-backed
mailbox), so a strategy never knows which (DESIGN principle 1). Devices answer with
:class:`tandem.device.trainer.DeviceTrainer`.

Wire format. A round plan is one envelope whose tensors are named ``"params/<key>"`` plus
``"<group>/<key>"`` for each tensor group in ``RoundPlan.server_state`` (e.g. SCAFFOLD's ``c``); the
envelope meta holds the round, the :class:`~tandem.federated.strategy.LocalObjective` and the JSON-able
rest of the server state. A client result travels the same way (``"params/..."`` plus tensor groups of
``ClientResult.extra`` such as ``delta_c``) inside a :class:`~tandem.core.messages.ClientUpdate`.
Plans may be signed (:mod:`tandem.transport.signing`): the signature rides in the message meta.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike

from tandem.core.envelope import decode_state, encode_state
from tandem.core.errors import ConfigError, PayloadError
from tandem.core.messages import ClientUpdate
from tandem.federated.strategy import ClientResult, LocalObjective, Params, RoundPlan, Strategy
from tandem.transport.base import BroadcastReceipt, Transport
from tandem.transport.messaging import collect_updates
from tandem.transport.signing import ArtifactSigner

PLAN_KIND = "plan"


def plan_context(rnd: int) -> dict[str, Any]:
    """The signed context of round ``rnd``'s plan (what a device rebuilds to verify it)."""
    return {"kind": PLAN_KIND, "round": int(rnd)}


def _is_group(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value) and all(isinstance(v, torch.Tensor) for v in value.values())


def _flatten(groups: Mapping[str, Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {f"{g}/{k}": v.detach() for g, group in groups.items() for k, v in group.items()}


def _unflatten(state: Mapping[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for name, tensor in state.items():
        group, sep, key = name.partition("/")
        if not sep or not key:
            raise PayloadError(f"tensor {name!r} is not named '<group>/<key>'")
        groups.setdefault(group, {})[key] = tensor
    return groups


def encode_plan(plan: RoundPlan, *, codec: str = "fp32", compress: str | None = None) -> bytes:
    """One envelope with the plan's parameters, tensor server state, objective and JSON server state."""
    tensor_state = {k: v for k, v in plan.server_state.items() if _is_group(v)}
    json_state = {k: v for k, v in plan.server_state.items() if k not in tensor_state}
    meta = {"kind": PLAN_KIND, "round": plan.round, "objective": _objective_json(plan.objective), "state": json_state}
    return encode_state(_flatten({"params": plan.params, **tensor_state}), codec, compress, meta)


def decode_plan(payload: bytes, *, max_bytes: int = 1 << 30) -> RoundPlan:
    """Inverse of :func:`encode_plan`; PayloadError for anything that is not a well-formed plan."""
    state, meta = decode_state(payload, max_bytes=max_bytes)
    if meta.get("kind") != PLAN_KIND or not isinstance(meta.get("round"), int):
        raise PayloadError(f"payload is not a round plan (meta kind={meta.get('kind')!r}, round={meta.get('round')!r})")
    groups = _unflatten(state)
    params = groups.pop("params", None)
    if not params:
        raise PayloadError("round plan carries no 'params/...' tensors")
    objective = _objective_from_json(meta.get("objective"))
    json_state = meta.get("state") if isinstance(meta.get("state"), dict) else {}
    return RoundPlan(round=meta["round"], params=params, objective=objective, server_state={**json_state, **groups})


def encode_result(rnd: int, result: ClientResult, *, codec: str = "fp32", compress: str | None = None) -> ClientUpdate:
    """A :class:`ClientUpdate` carrying ``result`` (parameters and tensor extras) for round ``rnd``."""
    extras = {k: v for k, v in result.extra.items() if _is_group(v)}
    payload = encode_state(_flatten({"params": result.params, **extras}), codec, compress, {"kind": "update"})
    metrics = dict(result.metrics)
    if result.loss_before is not None:
        metrics["loss_before"] = float(result.loss_before)
    return ClientUpdate(int(result.client_id), int(rnd), int(result.n_examples), payload, metrics)


def decode_result(update: ClientUpdate, *, max_bytes: int = 1 << 30) -> ClientResult:
    """Inverse of :func:`encode_result` (PayloadError if the payload is malformed)."""
    state, _ = decode_state(update.payload, max_bytes=max_bytes)
    groups = _unflatten(state)
    params = groups.pop("params", None)
    if params is None:
        raise PayloadError(f"update of device {update.device_id} carries no 'params/...' tensors")
    metrics = {k: float(v) for k, v in update.metrics.items()}
    loss_before = metrics.pop("loss_before", None)
    return ClientResult(update.device_id, update.n_examples, params, loss_before, metrics, dict(groups))


def check_result_shapes(result: ClientResult, plan: RoundPlan, *, max_examples: int = 1 << 31) -> None:
    """PayloadError unless ``result`` fits ``plan``: every returned tensor (parameters and tensor extras such as
    SCAFFOLD's ``delta_c``) names a plan parameter, has its shape and dtype and is finite; no shared
    parameter is missing; ``n_examples`` is at most ``max_examples``.

    The sender chooses the envelope's ``allow_nonfinite`` flag, so finiteness is checked here, not trusted.
    """
    who = f"update of device {result.client_id}"
    if not 0 <= result.n_examples <= max_examples:
        raise PayloadError(f"{who}: n_examples={result.n_examples} is outside 0..{max_examples}")
    groups = {"params": result.params, **{f"extra[{k!r}]": v for k, v in result.extra.items()}}
    for group, tensors in groups.items():
        for key, value in tensors.items():
            ref = plan.params.get(key)
            if ref is None:
                raise PayloadError(f"{who}: {group} has unknown parameter {key!r}")
            if tuple(value.shape) != tuple(ref.shape) or value.dtype != ref.dtype:
                raise PayloadError(
                    f"{who}: {group}[{key!r}] is {tuple(value.shape)} {value.dtype}, "
                    f"the round's model has {tuple(ref.shape)} {ref.dtype}"
                )
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                raise PayloadError(f"{who}: {group}[{key!r}] has NaN/Inf values")
    missing = [k for k in plan.params if k not in result.params and k not in plan.objective.personal_keys]
    if missing:
        raise PayloadError(f"{who}: missing parameters {missing[:5]}")


def _objective_json(objective: LocalObjective) -> dict[str, Any]:
    out = dataclasses.asdict(objective)
    out["personal_keys"] = list(objective.personal_keys)
    return out


def _objective_from_json(raw: Any) -> LocalObjective:
    if not isinstance(raw, dict):
        raise PayloadError("round plan has no objective")
    fields = {f.name for f in dataclasses.fields(LocalObjective)}
    unknown = set(raw) - fields
    if unknown:
        raise PayloadError(f"round plan objective has unknown fields {sorted(unknown)}")
    raw = {**raw, "personal_keys": tuple(raw.get("personal_keys", ()))}
    for name in ("lr", "prox_mu", "ditto_lambda"):
        if name in raw and not (isinstance(raw[name], int | float) and math.isfinite(raw[name])):
            raise PayloadError(f"round plan objective {name}={raw[name]!r} is not a finite number")
    return LocalObjective(**raw)


class RoundDriver:
    """The cloud side of federated rounds with ``strategy``, over whatever transport it is handed.

    Parameters
    ----------
    strategy:
        Any registered :class:`~tandem.federated.strategy.Strategy`.
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
            raise ConfigError(f"RoundDriver: strategy must be a Strategy, got {type(strategy).__name__}")
        self.strategy = strategy
        self.codec, self.compress, self.signer = codec, compress, signer

    def plan_message(self, rnd: int, params: Params, extra_meta: Mapping[str, Any] | None = None) -> tuple[bytes, dict]:
        """The payload and message meta of round ``rnd``'s plan (signed if the driver has a signer)."""
        payload = encode_plan(self.strategy.configure_round(rnd, params), codec=self.codec, compress=self.compress)
        meta: dict[str, Any] = {"round": int(rnd), **dict(extra_meta or {})}
        if self.signer is not None:
            signed = self.signer.sign(payload, plan_context(rnd))
            meta.update(sha256=signed.sha256, signature=signed.signature, key_id=signed.key_id)
        return payload, meta

    def start(
        self, transport: Transport, rnd: int, params: Params, device_ids: ArrayLike, **extra_meta: Any
    ) -> BroadcastReceipt:
        """Broadcast round ``rnd``'s plan to ``device_ids``."""
        payload, meta = self.plan_message(rnd, params, extra_meta)
        return transport.broadcast(np.asarray(device_ids, dtype=np.int64), PLAN_KIND, payload, meta)

    def collect(self, transport: Transport, rnd: int, until: float | None = None) -> list[ClientResult]:
        """Decoded updates of round ``rnd`` that have arrived (by ``until``); other rounds' are dropped."""
        return [decode_result(u) for u in collect_updates(transport, until=until) if u.round == rnd]

    def aggregate(self, rnd: int, params: Params, results: Sequence[ClientResult]) -> Params:
        """The strategy's new global parameters, or ``params`` unchanged when no client contributed."""
        if not results or sum(r.n_examples for r in results) <= 0:
            return params
        ordered = sorted(results, key=lambda r: r.client_id)  # arrival order differs between runtimes
        return self.strategy.aggregate(rnd, params, ordered)
