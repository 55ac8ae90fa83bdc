"""The five federated workloads of the suite, each fully materialised: data, partition, schedule, initial weights.

Every runner (tandem batched, tandem sequential, the plain PyTorch loop, Flower) builds its workload with
:func:`build`, in its own process, and gets the same arrays, the same client partition, the same
schedule of clients per round and the same initial weights (everything is seeded).

Workloads (``NAMES`` order = the order of the report):

1. ``reference``: ``shared/peers/workload.json`` ``main`` (digits MLP 64-64-10, Dirichlet(0.5) over 100
   clients, 10 per round, 50 rounds, FedAvg, SGD lr 0.05, batch 16), from the materialised files.
2. ``reference_large``: its ``large`` config (1000 clients, 100 per round, 10 rounds).
3. ``bank``: UCI Bank Marketing (bank-full.csv, 45,211 rows, ``duration`` dropped: it leaks the label),
   one-hot + standardised (fitted on the train rows), a seeded 80/20 split; MLP 51-64-2; Dirichlet(0.3)
   over 500 clients (uneven sizes, some empty); 50 per round, 30 rounds; SGD lr 0.05, batch 32.
4. ``digits_cnn``: scikit-learn digits as 1x8x8 images (the peer's train/test split), CNN conv(1->4, 3x3)
   -> ReLU -> conv(4->8, 3x3) -> ReLU -> linear(512->10); Dirichlet(0.1) over 100 clients, 20 per round,
   30 rounds; SGD lr 0.05, batch 16.
5. ``movielens``: MovieLens-100k next-item recommendation, one client per user (943); leave-one-out
   (the
   last item is the test target, the second-to-last is held out); each user trains on every prefix of the
   rest (window 20); GRU4Rec small (dim 16, hidden 32, no dropout); 50 users per round, 10 rounds; SGD
   lr 0.5 (full-softmax cross-entropy), batch 32; NDCG@10 by full ranking over all 1,682 items of the
   test item given the user's whole history (train + held-out item), every 5 rounds.

Schedules (except the peer's own): ``rng = default_rng(seed)``; round r takes ``sorted(rng.choice(N, K,
replace=False))``, the peer workload's rule. ``quick=True`` keeps the first few rounds (the suite's test).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parents[2]
NAMES = ("reference", "reference_large", "bank", "digits_cnn", "movielens")
TITLES = {
    "reference": "(1) peer reference: digits MLP, 100 clients x 10/round x 50 rounds",
    "reference_large": "(2) peer large: digits MLP, 1000 clients x 100/round x 10 rounds",
    "bank": "(3) UCI Bank Marketing MLP, Dirichlet(0.3), 500 clients x 50/round x 30 rounds",
    "digits_cnn": "(4) digits 1x8x8 CNN (2 conv), Dirichlet(0.1), 100 clients x 20/round x 30 rounds",
    "movielens": "(5) MovieLens-100k GRU4Rec next item, 943 users x 50/round x 10 rounds",
}
QUICK_ROUNDS = {"reference": 10, "reference_large": 3, "bank": 4, "digits_cnn": 5, "movielens": 2}


class Skip(Exception):  # noqa: N818
    """The workload's data set is absent here (the message says which and where)."""


@dataclass
class Workload:
    """One workload: train arrays split over clients, the schedule, the model and the central metric."""

    name: str
    metric: str
    X: np.ndarray
    y: np.ndarray
    parts: list[np.ndarray]
    schedule: list[list[int]]
    model_fn: Callable[[], nn.Module]
    lr: float
    batch_size: int
    evaluate: Callable[[nn.Module], float]
    eval_every: int = 1
    epochs: int = 1
    seed: int = 0
    tolerance: float = 0.0
    tolerance_why: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def rounds(self) -> int:
        return len(self.schedule)

    @property
    def n_clients(self) -> int:
        return len(self.parts)

    def step_counts(self) -> tuple[int, int]:
        """``(total, critical)`` local SGD steps of the run: every selected client's steps, and the sum over
        rounds of the round's largest client's steps (a client's steps are sequential, so no runner can take
        fewer than ``critical`` steps one after another; ``total / critical`` bounds what batching clients
        alone can gain over a one-client-at-a-time loop whose steps cost the same)."""
        total = critical = 0
        for selected in self.schedule:
            steps = [-(-len(self.parts[c]) // self.batch_size) * self.epochs for c in selected]
            total += sum(steps)
            critical += max(steps, default=0)
        return total, critical

    def evaluated(self, rnd: int) -> bool:
        """Rounds with a central evaluation: 0 (the initial model), every ``eval_every``-th, and the last."""
        return rnd == 0 or rnd == self.rounds or rnd % self.eval_every == 0


def data_root() -> Path:
    return Path(os.environ["TANDEM_DATA"]) if os.environ.get("TANDEM_DATA") else REPO.parent / "shared" / "data"


def peers_root() -> Path:
    if os.environ.get("TANDEM_DATA"):
        candidate = Path(os.environ["TANDEM_DATA"]).parent / "peers"
        if (candidate / "workload.json").exists():
            return candidate
    return REPO.parent / "shared" / "peers"


def sampled_schedule(n_clients: int, per_round: int, rounds: int, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [sorted(int(c) for c in rng.choice(n_clients, per_round, replace=False)) for _ in range(rounds)]


def seeded(model_cls: Callable[[], nn.Module], seed: int) -> Callable[[], nn.Module]:
    """A factory that always returns the same initial weights (built once, copied out)."""
    torch.manual_seed(seed)
    state = {k: v.detach().clone() for k, v in model_cls().state_dict().items()}

    def make() -> nn.Module:
        model = model_cls()
        model.load_state_dict(state)
        return model

    return make


def accuracy_of(X: np.ndarray, y: np.ndarray) -> Callable[[nn.Module], float]:  # noqa: N803
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)

    @torch.no_grad()
    def evaluate(model: nn.Module) -> float:
        model.eval()
        return float((model(X_t).argmax(1) == y_t).to(torch.float32).mean())

    return evaluate


# ------------------------------------------------------------------------------------------ (1), (2)
def _peer(config: str, quick: bool) -> Workload:
    root = peers_root()
    if not (root / "workload.json").exists():
        raise Skip(f"peer workload not found at {root}")
    from tandem.recipes.peer.workload import load_peer_workload

    peer = load_peer_workload(root, config)
    name = "reference" if config == "main" else "reference_large"
    schedule = peer.schedule[: QUICK_ROUNDS[name]] if quick else peer.schedule
    return Workload(
        name=name,
        metric="accuracy",
        X=peer.X,
        y=peer.y,
        parts=peer.clients,
        schedule=[list(map(int, s)) for s in schedule],
        model_fn=peer.model,
        lr=0.05,
        batch_size=16,
        evaluate=accuracy_of(peer.X[peer.test_rows], peer.y[peer.test_rows]),
        tolerance=0.0,
        tolerance_why="the peer protocol is followed step for step; observed: identical accuracy every round",
        notes={"published_final_accuracy": 0.7028} if config == "main" and not quick else {},
    )


# ------------------------------------------------------------------------------------------------ (3)
def _bank(quick: bool) -> Workload:
    folder = data_root() / "uci-bank-marketing"
    if not (folder / "bank-full.csv").exists():
        raise Skip(f"UCI Bank Marketing not found ({folder / 'bank-full.csv'})")
    from tandem.data import TabularEncoder, dirichlet_partition, load_bank

    ds = load_bank(folder, "full")
    shuffled = np.random.default_rng(0).permutation(len(ds))  # 80/20 split
    train, test = np.sort(shuffled[len(ds) // 5 :]), np.sort(shuffled[: len(ds) // 5])
    full = ds.to_numpy(TabularEncoder(drop=("duration",)).fit(_rows(ds, train)))
    X, y = full.X.astype(np.float32), full.y.astype(np.int64)
    parts = dirichlet_partition(y[train], 500, 0.3, seed=0, row_ids=train)
    n_features = X.shape[1]

    def mlp() -> nn.Module:
        return nn.Sequential(nn.Linear(n_features, 64), nn.ReLU(), nn.Linear(64, 2))

    sizes = np.array([len(p) for p in parts])
    return Workload(
        name="bank",
        metric="accuracy",
        X=X,
        y=y,
        parts=parts,
        schedule=sampled_schedule(500, 50, QUICK_ROUNDS["bank"] if quick else 30),
        model_fn=seeded(mlp, 0),
        lr=0.05,
        batch_size=32,
        evaluate=accuracy_of(X[test], y[test]),
        tolerance=0.002,
        tolerance_why="float32 sums in another order (batched matmuls) move weights by ~1e-7; a few of the 9,043 "
        "test rows near the decision boundary may flip",
        notes={"client_sizes": f"min {sizes.min()}, median {int(np.median(sizes))}, max {sizes.max()}, "
               f"{int((sizes == 0).sum())} empty", "features": n_features},
    )


def _rows(ds: Any, rows: np.ndarray) -> Any:
    """The rows ``rows`` of a TabularDataset (the encoder is fitted on the train split only)."""
    from tandem.data import TabularDataset

    return TabularDataset({k: v[rows] for k, v in ds.columns.items()}, ds.numeric, ds.categorical, ds.y[rows], ds.name)


# ------------------------------------------------------------------------------------------------ (4)
class DigitsCNN(nn.Module):
    """conv(1->4, 3x3, pad 1) -> ReLU -> conv(4->8, 3x3, pad 1) -> ReLU -> linear(8*8*8 -> 10)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1)
        self.head = nn.Linear(8 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.relu(self.conv2(F.relu(self.conv1(x)))).flatten(1))


def _digits_cnn(quick: bool) -> Workload:
    from tandem.data import dirichlet_partition
    from tandem.recipes.peer.workload import load_digits_arrays

    X, y = load_digits_arrays()
    X = X.reshape(-1, 1, 8, 8)
    root = peers_root()
    if (root / "partition.json").exists():  # the peer's split, else the same rule
        split = json.loads((root / "partition.json").read_text())
        train, test = np.asarray(split["train_indices"]), np.asarray(split["test_indices"])
    else:
        from tandem.data import train_test_split_indices

        train, test = train_test_split_indices(len(y), 0.2, seed=0)
    parts = dirichlet_partition(y[train], 100, 0.1, seed=0, row_ids=train)
    sizes = np.array([len(p) for p in parts])
    return Workload(
        name="digits_cnn",
        metric="accuracy",
        X=X,
        y=y,
        parts=parts,
        schedule=sampled_schedule(100, 20, QUICK_ROUNDS["digits_cnn"] if quick else 30),
        model_fn=seeded(DigitsCNN, 0),
        lr=0.05,
        batch_size=16,
        evaluate=accuracy_of(X[test], y[test]),
        tolerance=0.01,
        tolerance_why="conv kernels batched by vmap sum in another order (~1e-7); with Dirichlet(0.1) clients SGD "
        "amplifies that, so a few of the 360 test images may flip (0.01 = 3.6 images)",
        notes={"client_sizes": f"min {sizes.min()}, median {int(np.median(sizes))}, max {sizes.max()}, "
               f"{int((sizes == 0).sum())} empty"},
    )


# ------------------------------------------------------------------------------------------------ (5)
WINDOW = 20


def _movielens(quick: bool) -> Workload:
    folder = data_root() / "movielens-100k"
    if not (folder / "u.data").exists():
        raise Skip(f"MovieLens-100k not found ({folder / 'u.data'})")
    from tandem.data import leave_one_out, load_movielens_100k
    from tandem.models.gru4rec import GRU4Rec
    from tandem.models.ranking import hit_rate_and_ndcg, next_item_examples, rank_of_target

    log = load_movielens_100k(folder)
    loo = leave_one_out(log.to_sequences())
    histories, targets, parts, offset = [], [], [], 0
    for u in range(loo.train.n_users):
        h, t = next_item_examples([loo.train.sequence(u)], WINDOW)
        histories.append(h)
        targets.append(t)
        parts.append(np.arange(offset, offset + len(t)))
        offset += len(t)
    X, y = np.concatenate(histories), np.concatenate(targets)
    test_hist = loo.test_history()
    users = np.flatnonzero(loo.test_targets > 0)
    H = np.zeros((len(users), WINDOW), dtype=np.int64)
    for i, u in enumerate(users):
        seq = test_hist.sequence(int(u))[-WINDOW:]
        H[i, WINDOW - len(seq) :] = seq
    H_t, T_t = torch.from_numpy(H), torch.from_numpy(loo.test_targets[users].astype(np.int64))
    n_items = log.n_items

    def gru() -> nn.Module:
        return GRU4Rec(n_items, dim=16, hidden=32, max_len=WINDOW, dropout=0.0)

    @torch.no_grad()
    def ndcg(model: nn.Module) -> float:
        model.eval()
        return hit_rate_and_ndcg(rank_of_target(model(H_t), T_t), 10)[1]

    sizes = np.array([len(p) for p in parts])
    return Workload(
        name="movielens",
        metric="ndcg@10",
        X=X,
        y=y,
        parts=parts,
        schedule=sampled_schedule(len(parts), 50, QUICK_ROUNDS["movielens"] if quick else 10),
        model_fn=seeded(gru, 0),
        lr=0.5,
        batch_size=32,
        evaluate=ndcg,
        eval_every=5,
        tolerance=0.002,
        tolerance_why="the GRU's gates batched by vmap sum in another order (~1e-7 per step); NDCG@10 over 943 "
        "users moves by ~1e-4 when one user's rank changes by one",
        notes={"client_sizes": f"min {sizes.min()}, median {int(np.median(sizes))}, max {sizes.max()}",
               "test_users": len(users)},
    )


def build(name: str, quick: bool = False) -> Workload:
    """The workload ``name`` (one of :data:`NAMES`); :class:`Skip` when its data set is absent."""
    if name == "reference":
        return _peer("main", quick)
    if name == "reference_large":
        return _peer("large", quick)
    if name == "bank":
        return _bank(quick)
    if name == "digits_cnn":
        return _digits_cnn(quick)
    if name == "movielens":
        return _movielens(quick)
    raise SystemExit(f"unknown workload {name!r}; choose from {', '.join(NAMES)}")
