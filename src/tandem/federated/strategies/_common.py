"""Checks and small helpers shared by the built-in strategies (not an extension point).

Every ``aggregate`` first calls :func:`check_results`, so a bad client reply is rejected with a
message naming the strategy, the client and the tensor before any server state is touched.
Empty round -> :class:`ConfigError`; a malformed client reply (keys, shapes, NaN/Inf, counts)
-> :class:`PayloadError`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import torch

from tandem.core.errors import ConfigError, PayloadError
from tandem.federated.aggregate import weighted_average
from tandem.federated.strategy import ClientResult, LocalObjective, Params

_DEFAULT_OBJECTIVE = LocalObjective()


def _key_list(keys: Collection[str], limit: int = 5) -> str:
    names = sorted(keys)
    shown = ", ".join(repr(k) for k in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _check_structure(
    where: str, what: str, tensors: Any, reference: Mapping[str, torch.Tensor], keys: Collection[str]
) -> None:
    if not isinstance(tensors, Mapping):
        raise PayloadError(f"{where} sent {what} of type {type(tensors).__name__}, expected a dict of tensors")
    got = set(tensors)
    want = set(keys)
    if got != want:
        parts = []
        if want - got:
            parts.append(f"missing {_key_list(want - got)}")
        if got - want:
            parts.append(f"unexpected {_key_list(got - want)}")
        raise PayloadError(f"{where} sent {what} with mismatched keys: {'; '.join(parts)}")
    for key in keys:
        value = tensors[key]
        if not isinstance(value, torch.Tensor):
            raise PayloadError(f"{where} sent {what}[{key!r}] of type {type(value).__name__}, expected a tensor")
        expected = tuple(reference[key].shape)
        if tuple(value.shape) != expected:
            raise PayloadError(f"{where} sent {what}[{key!r}] with shape {tuple(value.shape)}, expected {expected}")


def _check_finite(strategy: str, what: str, key: str, entries: Sequence[tuple[Any, torch.Tensor]]) -> None:
    """Raise PayloadError naming the first entry with NaN/Inf values.

    Fast screen: the running float32 sum of all entries is finite when every entry is (NaN and Inf
    propagate; a finite overflow only causes a false alarm). Only when the screen fails are the
    entries checked one by one, so the error names the right client and there are no false alarms.
    """
    entries = [(cid, t) for cid, t in entries if t.is_floating_point() or t.is_complex()]
    if not entries:
        return
    try:
        acc = torch.zeros(entries[0][1].shape, dtype=torch.float32, device=entries[0][1].device)
        for _, value in entries:
            acc.add_(value)
        if bool(torch.isfinite(acc).all()):
            return
    except (RuntimeError, TypeError):  # complex values or mixed devices: check one by one
        pass
    for cid, value in entries:
        if not bool(torch.isfinite(value).all()):
            n_nan = int(torch.isnan(value).sum())
            n_inf = int(torch.isinf(value).sum())
            raise PayloadError(f"{strategy}: client {cid} sent non-finite {what}[{key!r}] ({n_nan} NaN, {n_inf} Inf)")


def check_tensor_sets(
    strategy: str,
    what: str,
    items: Sequence[tuple[Any, Any]],
    reference: Mapping[str, torch.Tensor],
    keys: Collection[str],
) -> None:
    """Check ``(client_id, tensors)`` pairs: exactly ``keys``, each shaped like ``reference[key]``, all finite."""
    keys = list(keys)
    for cid, tensors in items:
        _check_structure(f"{strategy}: client {cid}", what, tensors, reference, keys)
    for key in keys:
        _check_finite(strategy, what, key, [(cid, tensors[key]) for cid, tensors in items])


def check_tensors(
    strategy: str,
    client_id: Any,
    what: str,
    tensors: Any,
    reference: Mapping[str, torch.Tensor],
    keys: Collection[str],
) -> None:
    """Check that ``tensors`` has exactly ``keys``, each finite and shaped like ``reference[key]``."""
    check_tensor_sets(strategy, what, [(client_id, tensors)], reference, keys)


def check_results(
    strategy: str,
    rnd: int,
    params: Params,
    results: Sequence[ClientResult],
    *,
    keys: Collection[str] | None = None,
) -> None:
    """Validate one round's replies against the global ``params`` (``keys``: the shared keys, default all).

    Raises :class:`ConfigError` for an empty round or one where every client reported 0 examples, and
    :class:`PayloadError` naming the client for duplicate ids, bad example counts, mismatched keys or
    shapes, and NaN/Inf values. Reads only; never modifies its arguments.
    """
    if not results:
        raise ConfigError(f"{strategy}: round {rnd} has no client results to aggregate")
    keys = list(params) if keys is None else list(keys)
    seen: set[Any] = set()
    total = 0
    for result in results:
        cid = result.client_id
        if cid in seen:
            raise PayloadError(f"{strategy}: client {cid} appears more than once in round {rnd}")
        seen.add(cid)
        n = result.n_examples
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:  # numpy ints are fine
            raise PayloadError(f"{strategy}: client {cid} reported n_examples={n!r}, expected an int >= 0")
        total += n
    if total <= 0:
        raise ConfigError(f"{strategy}: every client of round {rnd} reported 0 examples; nothing to aggregate")
    check_tensor_sets(strategy, "params", [(r.client_id, r.params) for r in results], params, keys)


def example_weights(results: Sequence[ClientResult]) -> list[float]:
    """FedAvg weights: each client's example count."""
    return [float(r.n_examples) for r in results]


def fedavg_aggregate(
    strategy: str,
    rnd: int,
    params: Params,
    results: Sequence[ClientResult],
    *,
    shared_keys: Collection[str] | None = None,
) -> Params:
    """Checked FedAvg: the example-weighted average of the clients' ``shared_keys`` (default: all keys).

    Keys outside ``shared_keys`` are copied unchanged from ``params``; outputs take the dtypes of
    ``params``. Uses
    :func:`tandem.federated.aggregate.weighted_average`, so it equals FedAvg to the bit.
    """
    keys = list(params) if shared_keys is None else [k for k in params if k in set(shared_keys)]
    check_results(strategy, rnd, params, results, keys=keys)
    avg = weighted_average([{k: r.params[k] for k in keys} for r in results], example_weights(results))
    return {k: avg[k].to(params[k].dtype) if k in avg else params[k].detach().clone() for k in params}


def zeros_like_params(params: Mapping[str, torch.Tensor], fill: float = 0.0) -> Params:
    """float32 buffers shaped like ``params`` (on their devices) and filled with ``fill`` (server state)."""
    return {k: torch.full(tuple(v.shape), float(fill), dtype=torch.float32, device=v.device) for k, v in params.items()}


def check_buffers(strategy: str, name: str, buffers: Any, params: Mapping[str, torch.Tensor]) -> Params:
    """Validate a checkpointed buffer dict against ``params`` (or a reference) and return float32 copies."""
    if not isinstance(buffers, Mapping):
        raise ConfigError(f"{strategy}: state {name!r} must be a dict of tensors, got {type(buffers).__name__}")
    try:
        check_tensors(strategy, "<checkpoint>", f"state {name!r}", buffers, params, list(params))
    except PayloadError as exc:
        raise ConfigError(str(exc)) from None
    return {k: buffers[k].detach().to(torch.float32).clone() for k in params}


def state_or_init(
    strategy: str, name: str, buffers: Params | None, params: Mapping[str, torch.Tensor], fill: float = 0.0
) -> Params:
    """Server buffers to use this round: ``buffers`` if they match ``params`` by keys and shapes, else fresh.

    ``None`` (no round run yet, no checkpoint loaded) gives float32 buffers filled with ``fill``; buffers
    that do not match the parameters they should update raise :class:`ConfigError`. Buffers are moved
    to the parameters' devices (a checkpoint loaded on CPU serves parameters on a GPU).
    """
    if buffers is None:
        return zeros_like_params(params, fill)
    if set(buffers) != set(params):
        raise ConfigError(
            f"{strategy}: server state {name!r} has keys {_key_list(buffers)} but the global parameters "
            f"have {_key_list(params)}"
        )
    for key, value in params.items():
        if tuple(buffers[key].shape) != tuple(value.shape):
            raise ConfigError(
                f"{strategy}: server state {name}[{key!r}] has shape {tuple(buffers[key].shape)}, "
                f"the parameter has {tuple(value.shape)}"
            )
    return {k: buffers[k].to(device=value.device) for k, value in params.items()}  # no copy if already there


def build_objective(strategy: str, objective: LocalObjective | None, **owned: Any) -> LocalObjective:
    """Return ``objective`` with the fields this strategy owns set to ``owned``.

    A field the caller already set to a different non-default value is a conflict (ConfigError).
    ``control_variates`` and ``personal_keys`` need server support, so they are rejected unless owned.
    """
    base = objective if objective is not None else LocalObjective()
    if not isinstance(base, LocalObjective):
        raise ConfigError(f"{strategy}: objective must be a LocalObjective, got {type(base).__name__}")
    for name, value in owned.items():
        current = getattr(base, name)
        if current != getattr(_DEFAULT_OBJECTIVE, name) and current != value:
            raise ConfigError(
                f"{strategy}: objective.{name}={current!r} conflicts with the strategy's {name}={value!r}"
            )
    for name in ("control_variates", "personal_keys"):
        if name not in owned and getattr(base, name) != getattr(_DEFAULT_OBJECTIVE, name):
            raise ConfigError(f"{strategy}: objective.{name}={getattr(base, name)!r} is not supported by this strategy")
    return dataclasses.replace(base, **owned)


def check_number(
    strategy: str,
    name: str,
    value: Any,
    *,
    low: float,
    low_inclusive: bool = True,
    high: float | None = None,
    high_inclusive: bool = False,
) -> float:
    """Return ``value`` as a float after checking it is finite and within the given bounds."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{strategy}: {name} must be a number, got {value!r}") from None
    ok = math.isfinite(x) and (x >= low if low_inclusive else x > low)
    if high is not None:
        ok = ok and (x <= high if high_inclusive else x < high)
    if not ok:
        lo = f"{'>=' if low_inclusive else '>'} {low}"
        hi = "" if high is None else f" and {'<=' if high_inclusive else '<'} {high}"
        raise ConfigError(f"{strategy}: {name} must be finite, {lo}{hi}; got {value!r}")
    return x
