"""Split a data set's rows among simulated clients: pure functions from labels to lists of row ids.

Each function returns ``list[np.ndarray]`` (one sorted ``int64`` array of row ids per client, possibly empty),
so the same partition drives the simulator, the peer-baseline comparison and the real device agents.
"""

from __future__ import annotations

import numpy as np

from tandem.core.errors import ConfigError

Seed = int | np.random.Generator


def _rng(seed: Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _check_clients(n_clients: int) -> None:
    if not isinstance(n_clients, int | np.integer) or n_clients < 1:
        raise ConfigError(f"n_clients must be a positive integer, got {n_clients!r}")


def dirichlet_partition(
    labels: np.ndarray,
    n_clients: int,
    alpha: float,
    seed: Seed = 0,
    row_ids: np.ndarray | None = None,
    n_classes: int | None = None,
) -> list[np.ndarray]:
    """Label-skewed split: each class is divided among clients in Dirichlet(``alpha``) proportions.

    The algorithm of ``shared/peers/workload.json`` ("partition.algorithm"), step for step, so that with the
    peer's inputs it reproduces ``partition.json`` exactly: ``rng = default_rng(seed)``; for each class ``k`` in
    ascending order, ``pos_k`` = ascending positions ``p`` (into ``labels``) with ``labels[p] == k``;
    ``rng.shuffle(pos_k)``; ``prop = rng.dirichlet([alpha] * n_clients)``; cut points
    ``(cumsum(prop)[:-1] * len(pos_k)).astype(int)`` (truncation); ``np.split`` into ``n_clients`` chunks; chunk
    ``c`` goes to client ``c`` as ``row_ids[chunk]``. Finally each client's row ids are sorted. Clients may be
    empty (no minimum size).

    ``labels`` are the labels of the rows being partitioned (e.g. ``y[train_idx]``) and ``row_ids`` what to
    return for them (e.g. ``train_idx``; default: the positions). Classes are ``0..n_classes-1`` when
    ``n_classes`` is given (a class with no rows still consumes its shuffle and Dirichlet draw, as in the
    reference), else the distinct labels present.
    """
    _check_clients(n_clients)
    if not alpha > 0:
        raise ConfigError(f"dirichlet_partition: alpha must be > 0, got {alpha!r}")
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ConfigError(f"dirichlet_partition: labels must be 1-D, got shape {labels.shape}")
    ids = np.arange(labels.size, dtype=np.int64) if row_ids is None else np.asarray(row_ids, dtype=np.int64)
    if ids.shape != labels.shape:
        raise ConfigError(f"dirichlet_partition: {ids.size} row_ids for {labels.size} labels")
    classes = np.arange(n_classes) if n_classes is not None else np.unique(labels)
    rng = _rng(seed)
    chunks: list[list[np.ndarray]] = [[] for _ in range(n_clients)]
    for k in classes:
        pos = np.flatnonzero(labels == k)
        rng.shuffle(pos)
        prop = rng.dirichlet([alpha] * n_clients)
        cuts = (np.cumsum(prop)[:-1] * len(pos)).astype(int)
        for c, chunk in enumerate(np.split(pos, cuts)):
            chunks[c].append(ids[chunk])
    return [np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64) for parts in chunks]


def iid_partition(n_rows: int | np.ndarray, n_clients: int, seed: Seed = 0) -> list[np.ndarray]:
    """Uniform split: shuffle the rows and deal them into ``n_clients`` near-equal parts (sizes differ by <= 1).

    ``n_rows`` is a row count (ids ``0..n_rows-1``) or an array of the row ids to split.
    """
    _check_clients(n_clients)
    ids = np.arange(int(n_rows), dtype=np.int64) if np.ndim(n_rows) == 0 else np.asarray(n_rows, dtype=np.int64)
    perm = _rng(seed).permutation(ids)
    return [np.sort(part) for part in np.array_split(perm, n_clients)]


def by_user_partition(user_ids: np.ndarray) -> list[np.ndarray]:
    """Natural split: one client per distinct user, holding that user's rows.

    Client ``c`` is user ``np.unique(user_ids)[c]`` (ascending user id); its row ids are ascending.
    """
    user_ids = np.asarray(user_ids)
    if user_ids.ndim != 1:
        raise ConfigError(f"by_user_partition: user_ids must be 1-D, got shape {user_ids.shape}")
    order = np.argsort(user_ids, kind="stable")
    _, starts = np.unique(user_ids[order], return_index=True)
    return [part.astype(np.int64) for part in np.split(order, starts[1:])] if user_ids.size else []


def partition_sizes(parts: list[np.ndarray]) -> np.ndarray:
    """``int64 [n_clients]`` number of rows per client (for stats and FedAvg weights)."""
    return np.array([p.size for p in parts], dtype=np.int64)
