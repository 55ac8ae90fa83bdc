"""Client data sets for the simulator: a population of clients whose examples are looked up per round.

A runtime never holds every client's data at once; it asks a :class:`ClientData` for the clients of
the current round (:meth:`ClientData.round_view`). :class:`PartitionedData` keeps one feature matrix
and a row-id list per client (a partitioned real data set); :class:`SyntheticClients` generates each
client's examples from its id on demand, so a population of a million clients costs memory only for
the clients of the round.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from tandem.core.errors import ConfigError


@dataclass
class RoundView:
    """The examples of some clients: ``rows[k]`` indexes ``X``/``y`` for the k-th client (its own order)."""

    X: torch.Tensor
    y: torch.Tensor
    rows: list[np.ndarray]


class ClientData(Protocol):
    """What the runtimes need from a client population (duck-typed)."""

    @property
    def n_clients(self) -> int: ...

    def sizes(self, client_ids: np.ndarray) -> np.ndarray:
        """Number of training examples of each client (int64)."""
        ...

    def round_view(self, client_ids: np.ndarray) -> RoundView:
        """The training examples of these clients."""
        ...

    def local_eval_view(self, client_ids: np.ndarray) -> RoundView | None:
        """The clients' own held-out examples (used to evaluate personal models), or ``None``."""
        ...


def _as_rows(parts: Sequence[Sequence[int]] | None, n_rows: int, what: str) -> list[np.ndarray] | None:
    if parts is None:
        return None
    out = []
    for c, rows in enumerate(parts):
        arr = np.asarray(rows, dtype=np.int64).reshape(-1)
        if arr.size and (arr.min() < 0 or arr.max() >= n_rows):
            raise ConfigError(f"PartitionedData: {what} of client {c} index rows outside 0..{n_rows - 1}")
        out.append(arr)
    return out


class PartitionedData:
    """One data set split over clients: ``parts[c]`` are the row ids of client ``c``'s training examples.

    Parameters
    ----------
    x, y:
        Features ``[n, ...]`` and integer labels ``[n]``, numpy or torch; floating features are stored as
        float32, integer features (e.g. item ids for embedding models) keep their dtype.
    parts:
        One sequence of row ids per client (may be empty).
    eval_parts:
        Optional per-client held-out row ids, for evaluating personal models on the device.
    """

    def __init__(
        self,
        x: np.ndarray | torch.Tensor,
        y: np.ndarray | torch.Tensor,
        parts: Sequence[Sequence[int]],
        eval_parts: Sequence[Sequence[int]] | None = None,
    ) -> None:
        x = torch.as_tensor(x)
        # integer features (item ids for embedding models) keep their dtype; everything else trains in float32
        self.X = x if not x.is_floating_point() and x.dtype != torch.bool else x.to(torch.float32)
        self.y = torch.as_tensor(y, dtype=torch.int64)
        if self.y.ndim != 1 or self.X.shape[0] != self.y.shape[0]:
            raise ConfigError(f"PartitionedData: X {tuple(self.X.shape)} and y {tuple(self.y.shape)} do not align")
        self.parts = _as_rows(parts, len(self.y), "parts")
        self.eval_parts = _as_rows(eval_parts, len(self.y), "eval_parts")
        if self.eval_parts is not None and len(self.eval_parts) != len(self.parts):
            raise ConfigError(
                f"PartitionedData: {len(self.eval_parts)} eval_parts for {len(self.parts)} clients"
            )
        self._sizes = np.array([len(p) for p in self.parts], dtype=np.int64)

    @property
    def n_clients(self) -> int:
        return len(self.parts)

    def sizes(self, client_ids: np.ndarray) -> np.ndarray:
        return self._sizes[np.asarray(client_ids, dtype=np.int64)]

    def round_view(self, client_ids: np.ndarray) -> RoundView:
        return RoundView(self.X, self.y, [self.parts[int(c)] for c in client_ids])

    def local_eval_view(self, client_ids: np.ndarray) -> RoundView | None:
        if self.eval_parts is None:
            return None
        return RoundView(self.X, self.y, [self.eval_parts[int(c)] for c in client_ids])


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a counter-based hash, so per-client values need no stored state."""
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


class SyntheticClients:
    """A population of clients with Gaussian class clusters, generated from each client's id on demand.

    Client ``c`` has between ``min_size`` and ``max_size`` examples (a hash of ``(seed, c)``); its
    labels follow its own Dirichlet(``alpha``) class mix and its features are
    ``centers[label] + noise * N(0, 1)``, all drawn from ``numpy.random.default_rng([seed, c])``.
    Nothing per client is stored, so memory does not grow with ``n_clients``.
    """

    def __init__(
        self,
        n_clients: int,
        *,
        n_features: int = 64,
        n_classes: int = 10,
        min_size: int = 5,
        max_size: int = 25,
        alpha: float = 0.5,
        noise: float = 1.0,
        seed: int = 0,
    ) -> None:
        if n_clients < 1 or n_features < 1 or n_classes < 2:
            raise ConfigError("SyntheticClients: need n_clients >= 1, n_features >= 1 and n_classes >= 2")
        if not 0 <= min_size <= max_size:
            raise ConfigError(f"SyntheticClients: need 0 <= min_size <= max_size, got {min_size}, {max_size}")
        if alpha <= 0:
            raise ConfigError(f"SyntheticClients: alpha must be > 0, got {alpha}")
        self._n_clients = int(n_clients)
        self.n_features, self.n_classes = int(n_features), int(n_classes)
        self.min_size, self.max_size = int(min_size), int(max_size)
        self.alpha, self.noise, self.seed = float(alpha), float(noise), int(seed)
        rng = np.random.default_rng([self.seed, 2**32 - 1])
        self.centers = rng.standard_normal((self.n_classes, self.n_features)).astype(np.float32)

    @property
    def n_clients(self) -> int:
        return self._n_clients

    def sizes(self, client_ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(client_ids, dtype=np.int64)
        span = np.uint64(self.max_size - self.min_size + 1)
        h = _mix64(ids.astype(np.uint64) + np.uint64(self.seed) * np.uint64(0x9E3779B97F4A7C15))
        return (h % span).astype(np.int64) + self.min_size

    def _client(self, cid: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, int(cid)])
        mix = rng.dirichlet(np.full(self.n_classes, self.alpha))
        y = rng.choice(self.n_classes, size=n, p=mix)
        X = self.centers[y] + self.noise * rng.standard_normal((n, self.n_features), dtype=np.float32)
        return X.astype(np.float32, copy=False), y.astype(np.int64)

    def round_view(self, client_ids: np.ndarray) -> RoundView:
        ids = np.asarray(client_ids, dtype=np.int64)
        sizes = self.sizes(ids)
        parts = [self._client(int(c), int(n)) for c, n in zip(ids, sizes, strict=True)]
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        X = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, self.n_features), np.float32)
        y = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
        rows = [np.arange(offsets[k], offsets[k + 1], dtype=np.int64) for k in range(len(ids))]
        return RoundView(torch.from_numpy(X), torch.from_numpy(y), rows)

    def local_eval_view(self, client_ids: np.ndarray) -> RoundView | None:
        return None

    def test_set(self, n: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
        """A central test set drawn from the population's class clusters (uniform labels)."""
        rng = np.random.default_rng([self.seed, 2**32 - 2])
        y = rng.integers(0, self.n_classes, n)
        X = self.centers[y] + self.noise * rng.standard_normal((n, self.n_features), dtype=np.float32)
        return torch.from_numpy(X.astype(np.float32)), torch.from_numpy(y.astype(np.int64))
