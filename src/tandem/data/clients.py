"""Client populations: a set of clients whose examples are looked up per round.

Every client runtime (the simulator's batched runtimes, the reference trainer of
:mod:`tandem.federated.client`, the device agent) reads local data through :class:`ClientData`.
A runtime never holds every client's data at once; it asks a :class:`ClientData` for the clients of
the current round (:meth:`ClientData.round_view`). :class:`PartitionedData` keeps one feature matrix
and a row-id list per client (a partitioned real data set); :class:`SyntheticClients` generates each
client's examples from its id on demand, so a population of a million clients costs memory only for
the clients of the round. :meth:`PartitionedData.from_arrays` federates a user's own NumPy arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from tandem.core.errors import ConfigError
from tandem.data.partition import dirichlet_partition, iid_partition


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


Rows = Sequence[int] | np.ndarray
"""One client's row ids: a sequence of ints or an integer array."""


def _as_rows(parts: Sequence[Rows], n_rows: int, what: str) -> list[np.ndarray]:
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
        parts: Sequence[Rows],
        eval_parts: Sequence[Rows] | None = None,
    ) -> None:
        x = torch.as_tensor(x)
        # integer features (item ids for embedding models) keep their dtype; everything else trains in float32
        self.X = x if not x.is_floating_point() and x.dtype != torch.bool else x.to(torch.float32)
        self.y = torch.as_tensor(y, dtype=torch.int64)
        if self.y.ndim != 1 or self.X.shape[0] != self.y.shape[0]:
            raise ConfigError(f"PartitionedData: X {tuple(self.X.shape)} and y {tuple(self.y.shape)} do not align")
        self.parts = _as_rows(parts, len(self.y), "parts")
        self.eval_parts = None if eval_parts is None else _as_rows(eval_parts, len(self.y), "eval_parts")
        if self.eval_parts is not None and len(self.eval_parts) != len(self.parts):
            raise ConfigError(
                f"PartitionedData: {len(self.eval_parts)} eval_parts for {len(self.parts)} clients"
            )
        self._sizes = np.array([len(p) for p in self.parts], dtype=np.int64)

    @classmethod
    def from_arrays(
        cls,
        x: np.ndarray | torch.Tensor,
        y: np.ndarray | torch.Tensor,
        n_clients: int,
        *,
        alpha: float | None = None,
        seed: int = 0,
        local_eval_fraction: float = 0.0,
    ) -> PartitionedData:
        """Federate one data set of your own: split rows ``x[i], y[i]`` over ``n_clients`` simulated clients.

        ``alpha=None`` deals the rows out uniformly (IID, :func:`~tandem.data.partition.iid_partition`);
        a float gives each client a Dirichlet(``alpha``) label mix
        (:func:`~tandem.data.partition.dirichlet_partition`; small ``alpha`` = strong skew, clients may be
        empty). With ``local_eval_fraction > 0`` each client keeps that share of its rows (rounded down)
        as its own held-out set, used to evaluate personal models (FedPer, Ditto). Checks everything
        before splitting and raises :class:`~tandem.core.errors.ConfigError` on bad input.
        """
        x_arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        y_arr = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
        _check_arrays(x_arr, y_arr, n_clients, alpha, local_eval_fraction)
        y_int = y_arr.astype(np.int64)
        if alpha is None:
            parts = iid_partition(len(y_int), int(n_clients), seed=seed)
        else:
            parts = dirichlet_partition(y_int, int(n_clients), float(alpha), seed=seed)
        eval_parts: list[np.ndarray] | None = None
        if local_eval_fraction > 0:
            rng = np.random.default_rng([seed, 1])
            train: list[np.ndarray] = []
            eval_parts = []
            for rows in parts:
                shuffled = rng.permutation(rows)
                n_eval = int(len(rows) * local_eval_fraction)
                eval_parts.append(np.sort(shuffled[:n_eval]))
                train.append(np.sort(shuffled[n_eval:]))
            parts = train
        return cls(x_arr, y_int, parts, eval_parts=eval_parts)

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


def _check_arrays(
    x: np.ndarray, y: np.ndarray, n_clients: int, alpha: float | None, local_eval_fraction: float
) -> None:
    """Reject what :meth:`PartitionedData.from_arrays` cannot federate, saying what is wrong."""
    where = "PartitionedData.from_arrays"
    if x.ndim < 1 or y.ndim != 1:
        raise ConfigError(f"{where}: need x [n, ...] and 1-D labels y [n]; got x {x.shape}, y {y.shape}")
    if len(x) != len(y):
        raise ConfigError(f"{where}: x has {len(x)} rows but y has {len(y)} labels")
    if not isinstance(n_clients, int | np.integer) or isinstance(n_clients, bool) or n_clients < 1:
        raise ConfigError(f"{where}: n_clients must be a positive integer, got {n_clients!r}")
    if n_clients > len(y):
        raise ConfigError(f"{where}: {n_clients} clients but only {len(y)} rows; every client needs a row")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise ConfigError(f"{where}: x must be numeric, got dtype {x.dtype}")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))[0])
        raise ConfigError(f"{where}: x has NaN or Inf (first at row {bad})")
    if np.issubdtype(y.dtype, np.floating):
        if not np.isfinite(y).all():
            raise ConfigError(f"{where}: y has NaN or Inf (first at row {int(np.flatnonzero(~np.isfinite(y))[0])})")
        if (y != np.round(y)).any():
            raise ConfigError(f"{where}: y must hold integer class labels, found {y[y != np.round(y)][0]!r}")
    elif not np.issubdtype(y.dtype, np.integer):
        raise ConfigError(f"{where}: y must hold integer class labels, got dtype {y.dtype}")
    if len(y) and y.min() < 0:
        raise ConfigError(f"{where}: labels must be >= 0, found {y.min()}")
    if alpha is not None and not (isinstance(alpha, int | float) and np.isfinite(alpha) and alpha > 0):
        raise ConfigError(f"{where}: alpha must be None (IID) or a float > 0, got {alpha!r}")
    if not 0.0 <= local_eval_fraction < 1.0:
        raise ConfigError(f"{where}: local_eval_fraction must be in [0, 1), got {local_eval_fraction!r}")


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


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


def _hash(seed: int, stream: int, a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Independent-looking uint64 values for ``(seed, stream, a[, b])``, vectorized over ``a`` and ``b``."""
    with np.errstate(over="ignore"):
        key = np.uint64(seed) * _GOLDEN + np.uint64(stream + 1) * np.uint64(0xD1B54A32D192ED03)
        h = _mix64(np.asarray(a).astype(np.uint64) + key)
        if b is not None:
            h = _mix64(h + np.asarray(b).astype(np.uint64) * _GOLDEN)
    return h


class SyntheticClients:
    """A population of clients with Gaussian class clusters, generated from each client's id on demand.

    Every per-client value is a counter-based hash of ``(seed, client, row)``, so a client's data is the
    same whichever round or batch of clients it comes in, and nothing per client is stored: memory does
    not grow with ``n_clients``. Client ``c`` has ``min_size..max_size`` examples; its labels follow one
    of 1,024 Dirichlet(``alpha``) class mixes (picked by the hash); its features are
    ``centers[label] + noise * z`` with ``z`` a run of rows, starting at a hashed offset, of a fixed pool
    of 8,192 standard-normal rows. A round's data is built with a handful of vector operations.
    """

    N_MIXES = 1024
    POOL_ROWS = 8192

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
        mixes = rng.dirichlet(np.full(self.n_classes, self.alpha), size=self.N_MIXES)
        self._cdf = np.cumsum(mixes, axis=1)[:, :-1]
        self._pool = rng.standard_normal((self.POOL_ROWS, self.n_features), dtype=np.float32)

    @property
    def n_clients(self) -> int:
        return self._n_clients

    def sizes(self, client_ids: np.ndarray) -> np.ndarray:
        span = np.uint64(self.max_size - self.min_size + 1)
        return (_hash(self.seed, 0, client_ids) % span).astype(np.int64) + self.min_size

    def round_view(self, client_ids: np.ndarray) -> RoundView:
        ids = np.asarray(client_ids, dtype=np.int64)
        sizes = self.sizes(ids)
        total = int(sizes.sum())
        client = np.repeat(ids, sizes)
        row = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        uniform = (_hash(self.seed, 2, client, row) >> np.uint64(11)).astype(np.float64) * 2.0**-53
        mix = (_hash(self.seed, 1, client) % np.uint64(self.N_MIXES)).astype(np.int64)
        y = (uniform[:, None] >= self._cdf[mix]).sum(axis=1).astype(np.int64)
        start = (_hash(self.seed, 3, client) % np.uint64(self.POOL_ROWS)).astype(np.int64)
        x = self.centers[y] + self.noise * self._pool[(start + row) % self.POOL_ROWS]
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        rows = [np.arange(offsets[k], offsets[k + 1], dtype=np.int64) for k in range(len(ids))]
        return RoundView(torch.from_numpy(x.astype(np.float32, copy=False)), torch.from_numpy(y), rows)

    def local_eval_view(self, client_ids: np.ndarray) -> RoundView | None:
        return None

    def test_set(self, n: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
        """A central test set drawn from the population's class clusters (uniform labels)."""
        rng = np.random.default_rng([self.seed, 2**32 - 2])
        y = rng.integers(0, self.n_classes, n)
        X = self.centers[y] + self.noise * rng.standard_normal((n, self.n_features), dtype=np.float32)
        return torch.from_numpy(X.astype(np.float32)), torch.from_numpy(y.astype(np.int64))
