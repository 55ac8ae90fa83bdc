"""Client-side update hooks: transform what a client uploads, without touching the engine or the strategy.

A :class:`ClientHook` sees one round's client results right after local training and before they go on
the wire, together with the global parameters the clients started from. Local differential privacy,
update compression with error feedback and the attacks used for evaluation are all hooks, so each is
one small object that composes with any strategy (server-side defences are strategy wrappers:
:mod:`tandem.federated.robust`, :mod:`tandem.federated.privacy`).

Two ways a hook runs, one object (principle 1, "one algorithm, two runtimes"):

* simulator: :class:`HookedRuntime` wraps any client runtime (batched, sequential, Ray) and applies the
  hooks in order to the results of ``fit``; pass it as ``FederatedSimulation(runtime=...)``;
* real device agent: after local training the agent calls ``hook.transform(rnd, global_params, result)``
  on its own single result before encoding the update (a per-client hook needs nothing else). Hooks that
  need the whole round (colluding attacks such as ALIE) are simulation-only by nature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from tandem.core.errors import ConfigError
from tandem.federated.strategy import ClientResult, Params, RoundPlan


@runtime_checkable
class ClientHook(Protocol):
    """Transforms one round's client results (``global_params``: what the clients received)."""

    def __call__(self, rnd: int, global_params: Params, results: list[ClientResult]) -> list[ClientResult]: ...


class PerClientHook:
    """Base class of hooks that treat each client alone: implement :meth:`transform`.

    Subclasses with per-client state (error-feedback residuals) override ``state_dict`` /
    ``load_state_dict`` so simulator checkpoints resume exactly.
    """

    def transform(self, rnd: int, global_params: Params, result: ClientResult) -> ClientResult:
        raise NotImplementedError

    def __call__(self, rnd: int, global_params: Params, results: list[ClientResult]) -> list[ClientResult]:
        return [self.transform(rnd, global_params, r) if r.n_examples > 0 else r for r in results]

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


def update_of(result: ClientResult, global_params: Params) -> Params:
    """The client's update ``w_client - w_global`` per tensor (float32)."""
    return {k: v.to(torch.float32) - global_params[k].to(torch.float32) for k, v in result.params.items()}


def with_update(result: ClientResult, global_params: Params, update: Mapping[str, torch.Tensor]) -> ClientResult:
    """A copy of ``result`` whose parameters are ``w_global + update`` (dtypes of the global parameters)."""
    params = {k: (global_params[k].to(torch.float32) + update[k]).to(global_params[k].dtype) for k in result.params}
    return ClientResult(
        client_id=result.client_id,
        n_examples=result.n_examples,
        params=params,
        loss_before=result.loss_before,
        metrics=dict(result.metrics),
        extra=dict(result.extra),
    )


class HookedRuntime:
    """A client runtime whose results pass through ``hooks`` (in order) before they leave the devices.

    Implements the simulator's ``Runtime`` protocol by delegating to ``inner``; checkpoints carry the
    inner runtime's state and each hook's ``state_dict`` (if it has one).
    """

    def __init__(self, inner: Any, hooks: Sequence[ClientHook]) -> None:
        for hook in hooks:
            if not callable(hook):
                raise ConfigError(f"HookedRuntime: hook {hook!r} is not callable")
        if not hasattr(inner, "fit"):
            raise ConfigError(f"HookedRuntime: inner runtime {type(inner).__name__} has no fit()")
        self.inner = inner
        self.hooks = list(hooks)

    @property
    def flops_per_example(self) -> float:
        return self.inner.flops_per_example

    def fit(self, plan: RoundPlan, client_ids: Sequence[int] | np.ndarray) -> list[ClientResult]:
        results = self.inner.fit(plan, client_ids)
        for hook in self.hooks:
            results = list(hook(plan.round, plan.params, results))
        return results

    def state_dict(self) -> dict[str, Any]:
        hooks = [h.state_dict() if hasattr(h, "state_dict") else {} for h in self.hooks]
        return {**self.inner.state_dict(), "hooks": hooks}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        hooks = state.get("hooks", [{}] * len(self.hooks))
        self.inner.load_state_dict({k: v for k, v in state.items() if k != "hooks"})
        for hook, hook_state in zip(self.hooks, hooks, strict=False):
            if hasattr(hook, "load_state_dict"):
                hook.load_state_dict(hook_state)
