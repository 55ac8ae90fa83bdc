"""A tour of tandem.data: what is on this machine, the embedded defaults, and the partitioners.

Run: python examples/datasets_tour.py   (needs no download; real data sets are used only where found)
"""

from __future__ import annotations

import numpy as np

from tandem.core import DataNotFoundError
from tandem.data import (
    describe_datasets,
    dirichlet_partition,
    leave_one_out,
    load_movielens_100k,
    load_sklearn,
    make_synthetic_fleet,
    partition_sizes,
    train_test_split_indices,
)


def main() -> None:
    print("== data sets found")
    for info in describe_datasets():
        counts = ", ".join(f"{k} {v:,}" for k, v in info.counts.items())
        print(f"  {info.name:22s} found={info.found!s:5s} sha256_ok={info.sha256_ok!s:5s} {counts}")

    print("\n== synthetic fleet (embedded default)")
    fleet = make_synthetic_fleet(n_users=10_000, n_items=2_000, n_clusters=40, seq_len=50, seed=0)
    seqs = fleet.sequences
    print(f"  {seqs.n_users:,} users, {seqs.n_items:,} items, {seqs.n_interactions:,} interactions")
    user0 = seqs.sequence(0)[:10]
    print(f"  user 0 starts {user0.tolist()} in clusters {fleet.item_cluster[user0].tolist()}")
    train, _valid, test = leave_one_out(seqs)
    print(f"  leave-one-out: {train.n_interactions:,} train items, {int((test > 0).sum()):,} test targets")

    print("\n== digits, split and Dirichlet(0.5) over 100 clients (the peer baseline's workload)")
    digits = load_sklearn("digits")
    tr, te = train_test_split_indices(len(digits))
    clients = dirichlet_partition(digits.y[tr], 100, 0.5, seed=0, row_ids=tr)
    sizes = partition_sizes(clients)
    print(f"  train {tr.size}, test {te.size}; client sizes min {sizes.min()} max {sizes.max()} "
          f"mean {sizes.mean():.2f}; client 0 labels {np.bincount(digits.y[clients[0]], minlength=10).tolist()}")

    print("\n== MovieLens 100K as sequences (if present)")
    try:
        log = load_movielens_100k()
    except DataNotFoundError as exc:
        print(f"  skipped: {exc}")
        return
    ml = log.to_sequences()
    first = ml.sequence(0)[:3]
    print(f"  {ml.n_users} users; user 1's first films: {[log.item_titles[i] for i in first]}")


if __name__ == "__main__":
    main()
