"""DP-FedAvg: clipping + noise maths, the accountant's numbers, and the budget refusal."""

from __future__ import annotations

import pytest
import torch

from tandem.core.errors import ConfigError, TandemError
from tandem.federated.privacy import CentralDP, LocalDP, PrivacyBudgetExceeded, local_epsilon, noise_for_epsilon
from tandem.federated.strategy import ClientResult, get_strategy

P = {"w": torch.tensor([0.0, 0.0])}


def _res(cid, w):
    return ClientResult(cid, 3, {"w": torch.tensor(w)})


def test_no_noise_is_clipped_fixed_denominator_mean():
    dp = CentralDP("fedavg", clip=1.0, noise_multiplier=0.0, clients_per_round=2, n_clients=10)
    new = dp.aggregate(1, P, [_res(0, [3.0, 4.0]), _res(1, [0.5, 0.0])])
    # clip [3,4] -> [0.6, 0.8]; ([0.6, 0.8] + [0.5, 0]) / 2
    assert torch.allclose(new["w"], torch.tensor([0.55, 0.4]))


def test_noise_std_is_z_c_over_m():
    big = {"w": torch.zeros(40000)}
    dp = CentralDP("fedavg", clip=2.0, noise_multiplier=1.5, clients_per_round=4, n_clients=40, seed=0)
    res = [ClientResult(c, 1, {"w": torch.zeros(40000)}) for c in range(4)]
    new = dp.aggregate(1, big, res)
    assert abs(float(new["w"].std()) - 1.5 * 2.0 / 4) < 0.01


def test_accountant_matches_opacus_and_grows():
    from opacus.accountants import RDPAccountant

    dp = CentralDP("fedavg", clip=1.0, noise_multiplier=1.1, clients_per_round=10, n_clients=100, seed=0)
    ref = RDPAccountant()
    for rnd in (1, 2, 3):
        dp.aggregate(rnd, P, [_res(0, [0.1, 0.1])])
        ref.step(noise_multiplier=1.1, sample_rate=0.1)
    eps = [h["epsilon"] for h in dp.epsilon_history_]
    assert eps[0] < eps[1] < eps[2]
    assert eps[-1] == pytest.approx(ref.get_epsilon(1e-5))


def test_budget_refusal_is_clear_and_changes_nothing():
    dp = CentralDP(
        "fedavg", clip=1.0, noise_multiplier=1.0, clients_per_round=10, n_clients=100, epsilon_budget=3.0, seed=0
    )
    rnd = 0  # epsilon after rounds 5, 6 at z=1, q=0.1, delta=1e-5: 2.90, 3.03 (Opacus RDP)
    with pytest.raises(PrivacyBudgetExceeded, match=r"round 6 would spend epsilon 3\.026") as info:
        while True:
            rnd += 1
            dp.configure_round(rnd, P)
            dp.aggregate(rnd, P, [_res(0, [0.1, 0.1])])
    assert isinstance(info.value, TandemError)
    assert rnd == 6 and dp.epsilon() == pytest.approx(2.902, abs=1e-3)
    assert len(dp.epsilon_history_) == 5


def test_noise_for_epsilon_hits_the_target():
    z = noise_for_epsilon(3.0, 1e-5, 0.1, 50)
    dp = CentralDP("fedavg", noise_multiplier=z, clients_per_round=10, n_clients=100)
    for _ in range(50):
        dp.accountant_.step(noise_multiplier=z, sample_rate=0.1)
    assert dp.epsilon() == pytest.approx(3.0, abs=0.05)


def test_local_dp_clips_and_noises_each_update():
    hook = LocalDP(clip=1.0, noise_multiplier=0.0)
    out = hook(1, P, [_res(0, [3.0, 4.0])])[0]
    assert torch.allclose(out.params["w"], torch.tensor([0.6, 0.8]))
    noisy = LocalDP(clip=1.0, noise_multiplier=2.0, seed=0)(
        1, {"w": torch.zeros(40000)}, [ClientResult(0, 1, {"w": torch.zeros(40000)})]
    )[0]
    assert abs(float(noisy.params["w"].std()) - 2.0) < 0.05
    assert local_epsilon(2.0, 5, 1e-5) > local_epsilon(2.0, 1, 1e-5) > 0


def test_bad_config_and_state_round_trip():
    with pytest.raises(ConfigError):
        CentralDP(clip=0.0)
    with pytest.raises(ConfigError):
        CentralDP(clients_per_round=20, n_clients=10)
    with pytest.raises(ConfigError):
        CentralDP(delta=2.0)
    dp = get_strategy("central_dp", noise_multiplier=1.0, clients_per_round=10, n_clients=100, seed=0)
    dp.aggregate(1, P, [_res(0, [0.1, 0.1])])
    other = CentralDP(noise_multiplier=1.0, clients_per_round=10, n_clients=100)
    other.load_state_dict(dp.state_dict())
    assert other.epsilon() == pytest.approx(dp.epsilon())


def test_more_clients_than_calibrated_is_refused():
    dp = CentralDP("fedavg", noise_multiplier=1.0, clients_per_round=1, n_clients=10)
    with pytest.raises(ConfigError, match="calibrated"):
        dp.aggregate(1, P, [_res(0, [0.1, 0.1]), _res(1, [0.1, 0.1])])
    assert dp.epsilon_history_ == []
