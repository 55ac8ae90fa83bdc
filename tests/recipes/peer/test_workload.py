"""The peer workload (shared/peers): tandem reproduces the published 0.7028 and the plain loop's curve."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tandem.core.errors import ConfigError
from tandem.recipes.peer.workload import (
    PeerConfig,
    load_digits_arrays,
    load_peer_workload,
    plain_reference_loop,
    run_peer,
    run_peer_workload,
)
from tandem.sim.selection import UniformSelector


def test_main_config_reproduces_the_published_accuracy_round_by_round(peers_dir):
    workload = load_peer_workload(peers_dir, "main")
    result = run_peer_workload(workload)
    curve = result.curve()
    assert len(curve) == 51
    assert round(curve[-1], 4) == 0.7028  # published: Flower 1.41 and the plain loop
    # every round's accuracy equals the plain PyTorch loop's (nn.Module + torch.optim.SGD), exactly
    assert curve == plain_reference_loop(workload)


def test_large_config_matches_the_plain_loop(peers_dir):
    workload = load_peer_workload(peers_dir, "large")
    assert len(workload.clients) == 1000 and sum(len(c) == 0 for c in workload.clients) == 238
    result = run_peer_workload(workload)
    assert result.curve() == plain_reference_loop(workload)
    assert all(r["n_examples"] >= 134 for r in result.history[1:])  # workload.json: min_examples_in_a_round


def test_sequential_runtime_gives_the_same_curve(peers_dir):
    workload = load_peer_workload(peers_dir, "main")
    batched = run_peer_workload(workload).curve()[:11]
    workload.schedule = workload.schedule[:10]
    assert run_peer_workload(workload, runtime="sequential").curve() == batched


def test_uniform_selector_reproduces_schedule_json(peers_dir):
    schedule = json.loads((peers_dir / "schedule.json").read_text())
    for n, k, rounds in ((100, 10, 50), (1000, 100, 10)):
        selector = UniformSelector(0)
        got = [selector.select(r, n, k).tolist() for r in range(1, rounds + 1)]
        assert got == schedule[str(n)]


def test_digits_read_without_sklearn_import_equal_load_digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    ours_x, ours_y = load_digits_arrays()
    np.testing.assert_array_equal(ours_x, (X / 16.0).astype(np.float32))
    np.testing.assert_array_equal(ours_y, y)


def test_missing_peer_files_are_reported(tmp_path):
    from tandem.core.errors import DataNotFoundError

    with pytest.raises(DataNotFoundError, match=r"partition\.json"):
        load_peer_workload(tmp_path)


def test_peer_config_runs_the_first_rounds_and_rejects_unknown_configs(peers_dir) -> None:
    result = run_peer(PeerConfig(peers_dir=str(peers_dir), rounds=2))
    assert len(result.history) == 3
    with pytest.raises(ConfigError, match="config"):
        PeerConfig(config="huge")
