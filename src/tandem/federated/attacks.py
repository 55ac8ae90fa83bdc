"""Simulated attacks, for honest evaluation of the defences (never used in production code paths).

* model poisoning by a fixed set of malicious clients, as a :class:`~tandem.federated.hooks.ClientHook`
  (:class:`ModelPoisoning`): ``sign_flip`` (update ``-s * u``; Li et al., "RSA", AAAI 2019 use s = 4),
  ``scaling`` (``s * u``; Bagdasaryan et al., "How To Backdoor Federated Learning", AISTATS 2020),
  ``gaussian`` (update replaced by ``N(0, s^2)`` noise; Blanchard et al. 2017), and ``alie`` ("A Little Is
  Enough", Baruch, Baruch and Goldberg, NeurIPS 2019: every attacker sends ``mean - z * std`` of the
  attackers' own benign updates, coordinate-wise, with ``z`` from the paper's formula for ``n`` and ``f``);
* data poisoning: :func:`flip_labels` (label ``y -> C - 1 - y`` on the malicious clients' rows; Fang et
  al., USENIX Security 2020).

The malicious set is fixed for the run (:func:`malicious_clients`), so a "20 % malicious" population has
exactly that share of attackers, about that share of each round.
"""

from __future__ import annotations

from collections.abc import Iterable
from statistics import NormalDist

import numpy as np
import torch

from tandem.core.errors import ConfigError
from tandem.federated.hooks import update_of, with_update
from tandem.federated.strategy import ClientResult, Params

ATTACKS = ("sign_flip", "scaling", "gaussian", "alie")
DEFAULT_STRENGTH = {"sign_flip": 4.0, "scaling": 10.0, "gaussian": 1.0, "alie": 0.0}


def malicious_clients(n_clients: int, fraction: float, seed: int = 0) -> np.ndarray:
    """``round(fraction * n_clients)`` distinct client ids drawn with ``seed``, sorted."""
    if n_clients < 1 or not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"malicious_clients: need n_clients >= 1 and fraction in [0, 1]; got {n_clients}, {fraction}")
    n_bad = round(fraction * n_clients)
    return np.sort(np.random.default_rng([seed, 0xBAD]).choice(n_clients, n_bad, replace=False)).astype(np.int64)


def alie_z(n: int, f: int) -> float:
    """Baruch et al. 2019: ``s = floor(n/2 + 1) - f`` supporters needed, ``z = Phi^-1((n - s) / n)``."""
    if n < 2 or not 0 <= f < n:
        raise ConfigError(f"alie_z: need n >= 2 and 0 <= f < n, got n={n}, f={f}")
    s = n // 2 + 1 - f
    return NormalDist().inv_cdf(min(max((n - s) / n, 1e-6), 1 - 1e-6))


def flip_labels(y: np.ndarray, rows: np.ndarray, n_classes: int) -> np.ndarray:
    """A copy of ``y`` with ``y[rows] -> n_classes - 1 - y[rows]`` (label-flipping data poisoning)."""
    y = np.asarray(y).copy()
    if n_classes < 2 or (y.size and (y.min() < 0 or y.max() >= n_classes)):
        raise ConfigError(f"flip_labels: labels must lie in 0..{n_classes - 1}")
    y[rows] = n_classes - 1 - y[rows]
    return y


class ModelPoisoning:
    """Client hook: the malicious clients of each round replace their update (module docstring).

    Parameters
    ----------
    attack:
        ``"sign_flip"``, ``"scaling"``, ``"gaussian"`` or ``"alie"``.
    malicious:
        Ids of the malicious clients (e.g. :func:`malicious_clients`).
    strength:
        ``s`` above (default per attack: sign flip 4, scaling 10, gaussian std 1); for ALIE a fixed ``z``
        (0 = the paper's formula from the round's ``n`` and ``f``).
    seed:
        Seed of the Gaussian attack's noise (per round and client).
    """

    def __init__(self, attack: str, malicious: Iterable[int], *, strength: float | None = None, seed: int = 0) -> None:
        if attack not in ATTACKS:
            raise ConfigError(f"ModelPoisoning: unknown attack {attack!r}; available: {', '.join(ATTACKS)}")
        self.attack = attack
        self.malicious = {int(c) for c in malicious}
        self.strength = DEFAULT_STRENGTH[attack] if strength is None else float(strength)
        self.seed = int(seed)

    def __call__(self, rnd: int, global_params: Params, results: list[ClientResult]) -> list[ClientResult]:
        bad = [i for i, r in enumerate(results) if r.client_id in self.malicious and r.n_examples > 0]
        if not bad:
            return results
        out = list(results)
        updates = {i: update_of(results[i], global_params) for i in bad}
        if self.attack == "alie":
            forged = self._alie(updates, n=sum(r.n_examples > 0 for r in results))
        for i in bad:
            u = updates[i]
            if self.attack == "sign_flip":
                new = {k: -self.strength * v for k, v in u.items()}
            elif self.attack == "scaling":
                new = {k: self.strength * v for k, v in u.items()}
            elif self.attack == "gaussian":
                g = torch.Generator().manual_seed(
                    int(np.random.SeedSequence([self.seed, rnd, results[i].client_id]).generate_state(1)[0])
                )
                new = {k: torch.randn(v.shape, generator=g) * self.strength for k, v in u.items()}
            else:
                new = forged
            out[i] = with_update(results[i], global_params, new)
        return out

    def _alie(self, updates: dict[int, Params], n: int) -> Params:
        z = self.strength or alie_z(n, len(updates))
        keys = list(next(iter(updates.values())))
        out = {}
        for k in keys:
            stack = torch.stack([u[k] for u in updates.values()])
            std = stack.std(dim=0, unbiased=False) if len(updates) > 1 else torch.zeros_like(stack[0])
            out[k] = stack.mean(dim=0) - z * std
        return out
