"""Differential privacy for federated learning: central DP-FedAvg with an accountant and a budget, and local DP.

Central model (:class:`CentralDP`): DP-FedAvg of McMahan, Ramage, Talwar and Zhang, "Learning
Differentially Private Recurrent Language Models", ICLR 2018. Each client update ``u_k = w_k - w`` is
clipped to L2 norm ``C``; the server averages with the fixed denominator ``m`` (the clients asked per
round, so one client's presence changes the sum by at most ``C``) and adds ``N(0, (z C / m)^2)`` to every
coordinate. A round is one subsampled Gaussian mechanism with sampling rate ``q = m / N`` and noise
multiplier ``z``; Opacus's RDP accountant (Mironov 2017; Mironov, Talwar and Zhang 2019) composes the
rounds and reports ``(epsilon, delta)`` after each. Before a round starts, :meth:`CentralDP.configure_round`
checks that running it keeps epsilon within ``epsilon_budget`` and otherwise raises
:class:`PrivacyBudgetExceeded`, so no client trains for a release the budget cannot pay for. (The
simulator samples a fixed number of clients uniformly; the accountant assumes Poisson sampling at the same
rate, the usual approximation of DP-FedAvg papers.)

Local model (:class:`LocalDP`): a client hook that clips and noises each update *on the device*
(``N(0, (z C)^2)``), so the server never sees an un-noised update; :func:`local_epsilon` accounts one client
over its participations.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from tandem.core.errors import ConfigError, TandemError
from tandem.federated.hooks import PerClientHook, update_of, with_update
from tandem.federated.robust import clip_rows, flatten, unflatten
from tandem.federated.strategies._common import check_results
from tandem.federated.strategy import ClientResult, Params, RoundPlan, Strategy, get_strategy, register_strategy


class PrivacyBudgetExceeded(TandemError):  # noqa: N818  (the name the project asked for)
    """Running another round would spend more privacy (epsilon at the given delta) than the configured budget."""


def make_accountant(kind: str = "rdp") -> Any:
    """An Opacus accountant by name (``"rdp"`` or ``"prv"``); Opacus is imported only here (it takes seconds)."""
    if kind not in ("rdp", "prv"):
        raise ConfigError(f"privacy: accountant must be 'rdp' or 'prv', got {kind!r}")
    from opacus.accountants import PRVAccountant, RDPAccountant

    return RDPAccountant() if kind == "rdp" else PRVAccountant()


def noise_for_epsilon(epsilon: float, delta: float, sample_rate: float, rounds: int, accountant: str = "rdp") -> float:
    """The noise multiplier ``z`` that spends exactly ``epsilon`` at ``delta`` over ``rounds`` (Opacus's search)."""
    from opacus.accountants.utils import get_noise_multiplier

    return float(
        get_noise_multiplier(
            target_epsilon=epsilon, target_delta=delta, sample_rate=sample_rate, steps=rounds, accountant=accountant
        )
    )


def local_epsilon(noise_multiplier: float, participations: int, delta: float) -> float:
    """Epsilon of one client under :class:`LocalDP` after ``participations`` noised uploads (RDP, no subsampling)."""
    acc = make_accountant("rdp")
    for _ in range(participations):
        acc.step(noise_multiplier=noise_multiplier, sample_rate=1.0)
    return float(acc.get_epsilon(delta)) if participations else 0.0


def gaussian_like(vec: torch.Tensor, std: float, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(vec.shape, generator=generator, dtype=torch.float32) * std


@register_strategy
class CentralDP(Strategy):
    """DP-FedAvg around an inner strategy (module docstring): clip, fixed-denominator mean, Gaussian noise.

    Parameters
    ----------
    inner:
        Strategy (or registered name) that turns the noised mean update into the next model (FedAvg: add it).
    clip:
        ``C``, the L2 bound of each client update.
    noise_multiplier:
        ``z``; the per-coordinate noise std of the mean is ``z * C / clients_per_round``.
    clients_per_round, n_clients:
        ``m`` and ``N``; the sampling rate is ``m / N``.
    delta, epsilon_budget:
        Report epsilon at ``delta``; refuse a round that would take epsilon past ``epsilon_budget`` (None: no limit).
    accountant:
        ``"rdp"`` (default) or ``"prv"`` (Opacus).
    seed:
        Seed of the noise; ``None`` (default, the only choice for a real deployment) draws from the OS.

    Learned state: ``epsilon_history_`` (``{"round", "epsilon", "delta"}`` per aggregated round), ``accountant_``.
    """

    name = "central_dp"

    def __init__(
        self,
        inner: Strategy | str = "fedavg",
        *,
        clip: float = 1.0,
        noise_multiplier: float = 1.0,
        clients_per_round: int = 10,
        n_clients: int = 100,
        delta: float = 1e-5,
        epsilon_budget: float | None = None,
        accountant: str = "rdp",
        seed: int | None = None,
    ) -> None:
        self.inner = get_strategy(inner) if isinstance(inner, str) else inner
        if not clip > 0 or not noise_multiplier >= 0:
            raise ConfigError(f"central_dp: need clip > 0 and noise_multiplier >= 0, got {clip}, {noise_multiplier}")
        if not 1 <= clients_per_round <= n_clients:
            raise ConfigError(
                f"central_dp: need 1 <= clients_per_round <= n_clients, got {clients_per_round}, {n_clients}"
            )
        if not 0 < delta < 1:
            raise ConfigError(f"central_dp: delta must be in (0, 1), got {delta}")
        if epsilon_budget is not None and not epsilon_budget > 0:
            raise ConfigError(f"central_dp: epsilon_budget must be > 0 or None, got {epsilon_budget}")
        super().__init__(self.inner.objective)
        self.clip, self.noise_multiplier = float(clip), float(noise_multiplier)
        self.clients_per_round, self.n_clients = int(clients_per_round), int(n_clients)
        self.sample_rate = self.clients_per_round / self.n_clients
        self.delta, self.epsilon_budget, self.seed = float(delta), epsilon_budget, seed
        self.name = f"{self.inner.name}+central_dp"  # type: ignore[misc]
        self.accountant_ = make_accountant(accountant)
        self.epsilon_history_: list[dict[str, float]] = []

    def epsilon(self) -> float:
        """Epsilon spent so far at ``delta`` (0 before the first round)."""
        if not self.accountant_.history:
            return 0.0
        return float(self.accountant_.get_epsilon(self.delta))

    def epsilon_after_next(self) -> float:
        """Epsilon at ``delta`` if one more round runs."""
        if self.noise_multiplier == 0:
            return float("inf")
        trial = copy.deepcopy(self.accountant_)
        trial.step(noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate)
        return float(trial.get_epsilon(self.delta))

    def initialize(self, params: Params, *, n_clients: int | None = None) -> None:
        self.inner.initialize(params, n_clients=n_clients)

    def configure_round(self, rnd: int, params: Params) -> RoundPlan:
        if self.epsilon_budget is not None:
            after = self.epsilon_after_next()
            if after > self.epsilon_budget:
                raise PrivacyBudgetExceeded(
                    f"{self.name}: round {rnd} would spend epsilon {after:.3f} at delta {self.delta:g}, past the "
                    f"budget {self.epsilon_budget:g} (spent so far: {self.epsilon():.3f} over "
                    f"{len(self.epsilon_history_)} rounds); stop here or raise the budget"
                )
        return self.inner.configure_round(rnd, params)

    def aggregate(self, rnd: int, params: Params, results: Sequence[ClientResult]) -> Params:
        keys = [k for k in params if k not in set(self.inner.objective.personal_keys)]
        check_results(self.name, rnd, params, results, keys=keys)
        live = [r for r in results if r.n_examples > 0]
        if len(live) > self.clients_per_round:
            raise ConfigError(
                f"{self.name}: round {rnd} has {len(live)} client updates but clients_per_round="
                f"{self.clients_per_round}; the noise is calibrated for at most that many"
            )
        U = clip_rows(torch.stack([flatten(update_of(r, params), keys) for r in live]), self.clip)
        gen = torch.Generator().manual_seed(int(self.seed) * 100_003 + rnd) if self.seed is not None else None
        std = self.noise_multiplier * self.clip / self.clients_per_round
        mean = U.sum(dim=0) / self.clients_per_round + gaussian_like(U[0], std, gen)
        self.accountant_.step(noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate)
        self.epsilon_history_.append({"round": rnd, "epsilon": self.epsilon(), "delta": self.delta})
        total = sum(r.n_examples for r in live)
        merged = with_update(
            ClientResult(-1, total, {k: params[k] for k in keys}), params, unflatten(mean, params, keys)
        )
        return self.inner.aggregate(rnd, params, [merged])

    def state_dict(self) -> dict[str, Any]:
        return {
            "inner": self.inner.state_dict(),
            "accountant": list(self.accountant_.history),
            "epsilon_history": list(self.epsilon_history_),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.inner.load_state_dict(state.get("inner", {}))
        self.accountant_.history = [tuple(h) for h in state.get("accountant", [])]
        self.epsilon_history_ = list(state.get("epsilon_history", []))


class LocalDP(PerClientHook):
    """Client hook: clip the update to ``clip`` and add ``N(0, (noise_multiplier * clip)^2)`` on the device.

    ``seed=None`` (default; real devices) draws noise from the OS; a seed makes simulations repeatable.
    """

    def __init__(self, *, clip: float = 1.0, noise_multiplier: float = 1.0, seed: int | None = None) -> None:
        if not clip > 0 or not noise_multiplier >= 0:
            raise ConfigError(f"LocalDP: need clip > 0 and noise_multiplier >= 0, got {clip}, {noise_multiplier}")
        self.clip, self.noise_multiplier, self.seed = float(clip), float(noise_multiplier), seed

    def transform(self, rnd: int, global_params: Params, result: ClientResult) -> ClientResult:
        keys = list(result.params)
        u = clip_rows(flatten(update_of(result, global_params), keys)[None], self.clip)[0]
        gen = None
        if self.seed is not None:
            gen = torch.Generator().manual_seed((int(self.seed) * 1_000_003 + rnd) * 1_000_003 + int(result.client_id))
        u = u + gaussian_like(u, self.noise_multiplier * self.clip, gen)
        return with_update(result, global_params, unflatten(u, global_params, keys))
