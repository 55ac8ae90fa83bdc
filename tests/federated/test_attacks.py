"""Attack simulation: each attack's forged update computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.federated.attacks import ModelPoisoning, alie_z, flip_labels, malicious_clients
from tandem.federated.strategy import ClientResult

G = {"w": torch.tensor([1.0, 1.0])}


def _results():
    return [ClientResult(c, 5, {"w": torch.tensor(v)}) for c, v in enumerate([[2.0, 1.0], [1.0, 3.0], [3.0, 1.0]])]


def test_malicious_clients_share_and_determinism():
    bad = malicious_clients(50, 0.2, seed=3)
    assert len(bad) == 10 and len(set(bad.tolist())) == 10
    assert np.array_equal(bad, malicious_clients(50, 0.2, seed=3))
    with pytest.raises(ConfigError):
        malicious_clients(10, 1.5)


def test_sign_flip_and_scaling_touch_only_attackers():
    out = ModelPoisoning("sign_flip", [1], strength=2.0)(1, G, _results())
    # client 1's update [0, 2] -> [0, -4]; others unchanged
    assert torch.equal(out[1].params["w"], torch.tensor([1.0, -3.0]))
    assert torch.equal(out[0].params["w"], torch.tensor([2.0, 1.0]))
    out = ModelPoisoning("scaling", [0], strength=10.0)(1, G, _results())
    assert torch.equal(out[0].params["w"], torch.tensor([11.0, 1.0]))


def test_gaussian_is_seeded_noise_of_the_given_std():
    big = {"w": torch.zeros(20000)}
    res = [ClientResult(0, 1, {"w": torch.zeros(20000)})]
    a = ModelPoisoning("gaussian", [0], strength=3.0, seed=1)(2, big, res)[0].params["w"]
    b = ModelPoisoning("gaussian", [0], strength=3.0, seed=1)(2, big, res)[0].params["w"]
    assert torch.equal(a, b)
    assert abs(float(a.std()) - 3.0) < 0.1


def test_alie_sends_mean_minus_z_std_of_attackers():
    out = ModelPoisoning("alie", [0, 2], strength=1.0)(1, G, _results())
    # attackers' updates [1, 0] and [2, 0]: mean [1.5, 0], std [0.5, 0] -> [1.0, 0] -> params [2, 1]
    for i in (0, 2):
        assert torch.allclose(out[i].params["w"], torch.tensor([2.0, 1.0]))
    assert torch.equal(out[1].params["w"], torch.tensor([1.0, 3.0]))


def test_alie_z_matches_the_paper_formula():
    # n = 50, f = 12 (Baruch et al.): s = 26 - 12 = 14, z = Phi^-1(36/50) ~ 0.583
    assert abs(alie_z(50, 12) - 0.5828) < 1e-3


def test_flip_labels_and_unknown_attack():
    y = np.array([0, 1, 2, 3])
    assert flip_labels(y, np.array([1, 3]), 4).tolist() == [0, 2, 2, 0]
    assert y.tolist() == [0, 1, 2, 3]
    with pytest.raises(ConfigError, match="unknown attack"):
        ModelPoisoning("backdoor", [0])
