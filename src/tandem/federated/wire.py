"""The one wire format of federated rounds: round plans down, client results up, over any transport.

The simulator, a script driving a real server, the server's own round manager and the device agent all
encode and decode with these functions, so what a user simulates is what the server runs.

Layout. Tensors travel in groups: ``"params"`` (the model), and every tensor group of
``RoundPlan.server_state`` (e.g. SCAFFOLD's ``c``) or ``ClientResult.extra`` (e.g. ``delta_c``). The
float32 tensors of a group travel as ONE flat vector named after the group, and the envelope meta
lists the group's ``[key, shape]`` pairs in order (``"layout"``); tensors of other dtypes travel as
their own ``"<group>/<key>"`` entries. One tensor per group keeps the envelope's per-tensor cost
(header entry, NaN/Inf scan) off the hot path, and quantizing codecs use one scale (``int8``) or one
top-k (``topk``) per group. A plan's meta also holds its round, the
:class:`~tandem.federated.strategy.LocalObjective` and the JSON-able rest of the server state; a
result travels inside a :class:`~tandem.core.messages.ClientUpdate`. Plans may be signed
(:mod:`tandem.transport.signing`): the signature rides in the message meta.

Decoding never trusts the payload: layouts, lengths, shapes and objectives are checked and any
malformation is a :class:`~tandem.core.errors.PayloadError` naming what is wrong.
"""

from __future__ import annotations

import dataclasses
import math
import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from tandem.core.envelope import DEFAULT_MAX_BYTES, decode_state, encode_state
from tandem.core.errors import PayloadError
from tandem.core.messages import ClientUpdate
from tandem.federated.strategy import ClientResult, LocalObjective, RoundPlan

PLAN_KIND = "plan"
_ENVELOPE_PREFIX = 20  # tandem.core.envelope: magic, version, flags, reserved, header length (u32), body length (u64)
_ENVELOPE_LENGTHS = struct.Struct("<IQ")
_CRC32 = struct.Struct("<I")
Group = Mapping[str, torch.Tensor]
Layout = dict[str, list[list[Any]]]


def plan_context(rnd: int) -> dict[str, Any]:
    """The signed context of round ``rnd``'s plan (what a device rebuilds to verify it)."""
    return {"kind": PLAN_KIND, "round": int(rnd)}


def is_tensor_group(value: Any) -> bool:
    """True for a non-empty mapping of name -> tensor (a group that travels as tensors, not JSON)."""
    return isinstance(value, Mapping) and bool(value) and all(isinstance(v, torch.Tensor) for v in value.values())


# ------------------------------------------------------------------------------------------ packing
def pack_groups(groups: Mapping[str, Group]) -> tuple[dict[str, torch.Tensor], Layout]:
    """``(tensors, layout)``: each group's float32 tensors as one flat vector, other dtypes by name."""
    tensors: dict[str, torch.Tensor] = {}
    layout: Layout = {}
    for name, group in groups.items():
        if "/" in name:
            raise PayloadError(f"tensor group name {name!r} must not contain '/'")
        flat = [(k, v) for k, v in group.items() if v.dtype == torch.float32]
        layout[name] = [[k, list(v.shape)] for k, v in flat]
        if flat:
            tensors[name] = torch.cat([v.detach().reshape(-1) for _, v in flat])
        for key, value in group.items():
            if value.dtype != torch.float32:
                tensors[f"{name}/{key}"] = value.detach()
    return tensors, layout


def unpack_groups(tensors: Mapping[str, torch.Tensor], layout: Any) -> dict[str, dict[str, torch.Tensor]]:
    """Inverse of :func:`pack_groups`; PayloadError when the layout does not match the tensors."""
    if not isinstance(layout, Mapping):
        raise PayloadError("payload meta has no tensor 'layout'")
    groups: dict[str, dict[str, torch.Tensor]] = {}
    used: set[str] = set()
    for name, entries in layout.items():
        group = groups.setdefault(str(name), {})
        if entries:
            flat = tensors.get(name)
            if flat is None or flat.dim() != 1 or flat.dtype != torch.float32:
                raise PayloadError(f"group {name!r}: the layout lists tensors but no flat float32 vector travels")
            keys, shapes = _layout_entries(name, entries)
            sizes = [math.prod(s) for s in shapes]
            if sum(sizes) != flat.numel():
                raise PayloadError(
                    f"group {name!r}: the layout needs {sum(sizes)} values, the payload has {flat.numel()}"
                )
            for key, shape, part in zip(keys, shapes, torch.split(flat, sizes), strict=True):
                group[key] = part.view(shape)
            used.add(name)
    for full, value in tensors.items():
        group_name, sep, key = full.partition("/")
        if full in used:
            continue
        if not sep or not key or group_name not in groups:
            raise PayloadError(f"tensor {full!r} belongs to no group of the layout")
        groups[group_name][key] = value
    return groups


def _layout_entries(name: str, entries: Any) -> tuple[list[str], list[tuple[int, ...]]]:
    if not isinstance(entries, list):
        raise PayloadError(f"group {name!r}: layout must be a list of [key, shape]")
    keys, shapes = [], []
    for entry in entries:
        ok = isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str) and isinstance(entry[1], list)
        if not ok or not all(type(d) is int and 0 <= d < 1 << 31 for d in entry[1]):
            raise PayloadError(f"group {name!r}: malformed layout entry {entry!r}")
        keys.append(entry[0])
        shapes.append(tuple(entry[1]))
    if len(set(keys)) != len(keys):
        raise PayloadError(f"group {name!r}: layout repeats a key")
    return keys, shapes


# ------------------------------------------------------------------------------------------ memo
class _LosslessMemo:
    """Plans and results this process encoded losslessly, by the identity of their payload object.

    ``fp32`` without compression carries float32 bit for bit (tested in ``tests/core``), and encoding
    refuses NaN/Inf, so decoding the very ``bytes`` object :func:`encode_result` (or :func:`encode_plan`)
    made gives back the tensors it was made from. When a payload reaches :func:`decode_result` in the same
    process (the in-process transport hands the object over), the parse is skipped; bytes counted on the
    wire are unchanged. Payloads from elsewhere (HTTP, a database) are new objects and always decoded.
    Bounded by ``max_bytes``; a result leaves when it is decoded (a plan, decoded by many devices, stays
    until evicted).
    """

    def __init__(self, max_bytes: int = 256 << 20) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[int, tuple[bytes, Any]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def put(self, payload: bytes, decoded: Any) -> None:
        with self._lock:
            self._entries[id(payload)] = (payload, decoded)
            self._bytes += len(payload)
            while self._bytes > self.max_bytes and self._entries:
                _, (old, _) = self._entries.popitem(last=False)
                self._bytes -= len(old)

    def get(self, payload: bytes, *, remove: bool) -> Any:
        with self._lock:
            entry = self._entries.get(id(payload))
            if entry is None or entry[0] is not payload:
                return None
            if remove:
                del self._entries[id(payload)]
                self._bytes -= len(payload)
            return entry[1]


_MEMO = _LosslessMemo()


# --------------------------------------------------------------------------------------------- plans
def encode_plan(plan: RoundPlan, *, codec: str = "fp32", compress: str | None = None) -> bytes:
    """One envelope with the plan's parameters, tensor server state, objective and JSON server state."""
    tensor_state = {k: v for k, v in plan.server_state.items() if is_tensor_group(v)}
    json_state = {k: v for k, v in plan.server_state.items() if k not in tensor_state}
    tensors, layout = pack_groups({"params": plan.params, **tensor_state})
    meta = {
        "kind": PLAN_KIND,
        "round": plan.round,
        "objective": objective_to_json(plan.objective),
        "state": json_state,
        "layout": layout,
    }
    payload = encode_state(tensors, codec, compress, meta)
    if codec == "fp32" and compress is None:
        _MEMO.put(payload, dataclasses.replace(plan, params=dict(plan.params), server_state=dict(plan.server_state)))
    return payload


def decode_plan(payload: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> RoundPlan:
    """Inverse of :func:`encode_plan`; PayloadError for anything that is not a well-formed plan."""
    known = _MEMO.get(payload, remove=False)
    if isinstance(known, RoundPlan):
        return dataclasses.replace(known, server_state=dict(known.server_state))
    tensors, meta = decode_state(payload, max_bytes=max_bytes)
    if meta.get("kind") != PLAN_KIND or type(meta.get("round")) is not int:
        raise PayloadError(f"payload is not a round plan (meta kind={meta.get('kind')!r}, round={meta.get('round')!r})")
    groups = unpack_groups(tensors, meta.get("layout"))
    params = groups.pop("params", None)
    if not params:
        raise PayloadError("round plan carries no 'params' tensors")
    objective = objective_from_json(meta.get("objective"))
    raw_state = meta.get("state")
    json_state: dict[str, Any] = dict(raw_state) if isinstance(raw_state, dict) else {}
    return RoundPlan(round=meta["round"], params=params, objective=objective, server_state={**json_state, **groups})


# ------------------------------------------------------------------------------------------- results


def encode_result(rnd: int, result: ClientResult, *, codec: str = "fp32", compress: str | None = None) -> ClientUpdate:
    """A :class:`ClientUpdate` carrying ``result`` (parameters and tensor extras) for round ``rnd``."""
    extras = {k: v for k, v in result.extra.items() if is_tensor_group(v)}
    tensors, layout = pack_groups({"params": result.params, **extras})
    payload = encode_state(tensors, codec, compress, {"kind": "update", "layout": layout})
    return _update(rnd, result, payload, memo=codec == "fp32" and compress is None)


def encode_results(
    rnd: int, results: Sequence[ClientResult], *, codec: str = "fp32", compress: str | None = None
) -> list[ClientUpdate]:
    """``[encode_result(rnd, r, codec=codec, compress=compress) for r in results]``, byte for byte, faster.

    A round's results share one layout (same keys, shapes, float32), so with ``fp32`` and no compression
    their envelopes differ only in the body and the checksum: the first result is encoded by
    :func:`encode_result` and its prefix + header is the template of the others, whose bodies are rows of
    one ``[K, P]`` float32 matrix; the NaN/Inf refusal runs once over the matrix. Anything else (another
    codec, compression, a layout that differs, a non-finite value) takes :func:`encode_result` per result.
    """
    results = list(results)
    if codec != "fp32" or compress is not None or len(results) < 2:
        return [encode_result(rnd, r, codec=codec, compress=compress) for r in results]
    layouts = [_flat_layout(r) for r in results]
    if layouts[0] is None or any(lay != layouts[0] for lay in layouts[1:]):
        return [encode_result(rnd, r, codec=codec, compress=compress) for r in results]
    groups = layouts[0]
    columns = []
    for group, entries in groups:
        for key, _ in entries:
            columns.append(torch.stack([_group(r, group)[key].detach() for r in results]).reshape(len(results), -1))
    matrix = torch.cat(columns, dim=1) if len(columns) > 1 else columns[0].contiguous()
    if not bool(torch.isfinite(matrix).all()):
        return [encode_result(rnd, r, codec=codec, compress=compress) for r in results]
    first = encode_result(rnd, results[0], codec=codec, compress=compress)
    hlen, blen = _ENVELOPE_LENGTHS.unpack_from(first.payload, 8)
    template = first.payload[: _ENVELOPE_PREFIX + hlen]
    rows = matrix.numpy()
    if blen != rows.shape[1] * 4:  # not the layout assumed above: take the safe path
        return [first] + [encode_result(rnd, r, codec=codec, compress=compress) for r in results[1:]]
    crc0 = zlib.crc32(template)
    out = [first]
    for k in range(1, len(results)):
        body = rows[k].tobytes()
        payload = b"".join((template, body, _CRC32.pack(zlib.crc32(body, crc0))))
        out.append(_update(rnd, results[k], payload))
    return out


def _group(result: ClientResult, group: str) -> Mapping[str, torch.Tensor]:
    return result.params if group == "params" else result.extra[group]


FlatLayout = tuple[tuple[str, tuple[tuple[str, tuple[int, ...]], ...]], ...]


def _flat_layout(result: ClientResult) -> FlatLayout | None:
    """``((group, ((key, shape), ...)), ...)`` of the result's tensor groups when every tensor is float32 and
    every extra is a tensor group (what the fast path of :func:`encode_results` assumes), else None."""
    groups = []
    for name, group in (("params", result.params), *result.extra.items()):
        if not is_tensor_group(group) or any(v.dtype != torch.float32 for v in group.values()):
            return None
        groups.append((name, tuple((k, tuple(v.shape)) for k, v in group.items())))
    return tuple(groups)


def _update(rnd: int, result: ClientResult, payload: bytes, *, memo: bool = True) -> ClientUpdate:
    """The ClientUpdate carrying ``result`` encoded as ``payload`` (remembered when lossless, see _LosslessMemo)."""
    if memo:
        extras = {k: v for k, v in result.extra.items() if is_tensor_group(v)}
        shared = {"params": dict(result.params), **{k: dict(v) for k, v in extras.items()}}
        _MEMO.put(payload, dataclasses.replace(result, params=shared.pop("params"), extra=shared))
    metrics = dict(result.metrics)
    if result.loss_before is not None:
        metrics["loss_before"] = float(result.loss_before)
    return ClientUpdate(int(result.client_id), int(rnd), int(result.n_examples), payload, metrics)


def decode_result(update: ClientUpdate, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ClientResult:
    """Inverse of :func:`encode_result` (PayloadError if the payload is malformed or has NaN/Inf values)."""
    known = _MEMO.get(update.payload, remove=True)
    if known is not None:
        metrics = {k: float(v) for k, v in update.metrics.items()}
        loss_before = metrics.pop("loss_before", None)
        return dataclasses.replace(
            known, client_id=update.device_id, n_examples=update.n_examples, loss_before=loss_before, metrics=metrics
        )
    tensors, meta = decode_state(update.payload, max_bytes=max_bytes, require_finite=True)
    groups = unpack_groups(tensors, meta.get("layout"))
    params = groups.pop("params", None)
    if params is None:
        raise PayloadError(f"update of device {update.device_id} carries no 'params' tensors")
    metrics = {k: float(v) for k, v in update.metrics.items()}
    loss_before = metrics.pop("loss_before", None)
    return ClientResult(update.device_id, update.n_examples, params, loss_before, metrics, dict(groups))


def check_result_shapes(
    result: ClientResult, plan: RoundPlan, *, max_examples: int = 1 << 31, check_finite: bool = True
) -> None:
    """PayloadError unless ``result`` fits ``plan``: every returned tensor (parameters and tensor extras such as
    SCAFFOLD's ``delta_c``) names a plan parameter, has its shape and dtype and is finite; no shared
    parameter is missing; ``n_examples`` is at most ``max_examples``.

    The sender chooses the envelope's ``allow_nonfinite`` flag, so finiteness is checked here, not trusted
    (``check_finite=False`` when the result came from :func:`decode_result`, which already refused them).
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
            if check_finite and value.is_floating_point() and not bool(torch.isfinite(value).all()):
                raise PayloadError(f"{who}: {group}[{key!r}] has NaN/Inf values")
    missing = [k for k in plan.params if k not in result.params and k not in plan.objective.personal_keys]
    if missing:
        raise PayloadError(f"{who}: missing parameters {missing[:5]}")


# ---------------------------------------------------------------------------------------- objective
def objective_to_json(objective: LocalObjective) -> dict[str, Any]:
    """The objective as plain JSON (tuples become lists)."""
    out = dataclasses.asdict(objective)
    out["personal_keys"] = list(objective.personal_keys)
    return out


def objective_from_json(raw: Any) -> LocalObjective:
    """Inverse of :func:`objective_to_json`; PayloadError for unknown fields or non-finite numbers."""
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
    try:
        return LocalObjective(**raw)
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"round plan objective is malformed: {exc}") from None
