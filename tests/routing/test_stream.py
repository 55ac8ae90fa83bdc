import copy

import numpy as np
import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.models.ranking import rank_of_target
from tandem.routing import GlobalRateCap, StreamSimulator, get_policy
from tandem.routing.digest import seen_mask
from tandem.routing.payloads import PayloadSizer
from tandem.routing.stream_state import ndcg_at


def test_ndcg_at_by_hand() -> None:
    assert ndcg_at(torch.tensor([0, 1, 10]), 10).tolist() == pytest.approx([1.0, 1 / np.log2(3), 0.0])


def test_never_equals_the_small_models_own_full_ranking(tiny, tiny_sim) -> None:
    s = tiny.streams
    run = tiny_sim.run(get_policy("never"))
    steps = np.arange(s.n_steps)
    logits = tiny.device.logits(s, steps).masked_fill(seen_mask(s, steps), float("-inf"))
    ranks = rank_of_target(logits, torch.as_tensor(s.targets(steps)))
    assert run.requests == 0 and run.bytes_up == 0 and run.bytes_down == 0
    assert run.metrics["ndcg@10"] == pytest.approx(float(ndcg_at(ranks, 10).mean()))
    assert np.array_equal(np.minimum(run.ranks, 10), np.minimum(ranks.numpy(), 10))


def test_always_with_the_cloud_list_is_the_fresh_large_list(tiny, tiny_sim) -> None:
    s = tiny.streams
    run = tiny_sim.with_combiner("cloud").run(get_policy("always"))
    steps = np.arange(s.n_steps)
    ids, _ = tiny.table.answer(s, steps)
    seen = seen_mask(s, steps)
    small = tiny.device.logits(s, steps).masked_fill(seen, float("-inf"))
    hits = 0
    for row, target in enumerate(s.targets(steps).tolist()):
        shown = [i for i in ids[row].tolist() if i > 0 and not seen[row, i]]  # the cloud's list first ...
        rest = small[row].clone()
        rest[shown] = float("-inf")
        shown += rest.argsort(descending=True)[: 10 - len(shown)].tolist()  # ... then the small model's best
        hits += target in shown[:10]
    assert run.request_rate == 1.0
    assert run.metrics["hr@10"] == pytest.approx(hits / s.n_steps)
    sizes = PayloadSizer().request_bytes(np.minimum(s.step_position, tiny.cloud.max_len))
    assert run.bytes_up == int(sizes.sum())
    assert run.cloud_flops == pytest.approx(s.n_steps * tiny.table.flops_per_request)


def test_periodic_requests_exactly_every_k_steps(tiny_sim, tiny) -> None:
    run = tiny_sim.run(get_policy("periodic", period=3))
    n = tiny.streams.steps_per_user
    assert run.requests == int(np.ceil(n / 3).sum())
    assert run.requested[tiny.streams.step_offsets[:-1][n > 0]].all()  # first step of every stream asks


def test_logged_gains_under_never_sum_to_the_always_gap(tiny_sim) -> None:
    never, always = tiny_sim.run(get_policy("never")), tiny_sim.run(get_policy("always"))
    logged = tiny_sim.run(get_policy("never"), log=True)
    assert logged.log is not None and logged.log.features.shape[0] == never.n_steps
    assert logged.metrics == never.metrics
    gap = always.metrics["ndcg@10"] - never.metrics["ndcg@10"]
    assert float(logged.log.gains.mean()) == pytest.approx(gap, abs=1e-9)


def test_random_is_reproducible_and_budget_caps_it(tiny_sim) -> None:
    a = tiny_sim.run(get_policy("random", rate=0.4, seed=5))
    b = tiny_sim.run(get_policy("random", rate=0.4, seed=5))
    assert np.array_equal(a.requested, b.requested) and a.metrics == b.metrics
    capped = tiny_sim.run(get_policy("always"), GlobalRateCap(0.25))
    assert capped.request_rate <= 0.25 + 1e-9 and capped.request_rate > 0.2
    assert capped.latency_p95_s > 0.0


def test_bad_configuration_is_rejected(tiny) -> None:
    with pytest.raises(ConfigError, match="k >= 1"):
        StreamSimulator(tiny.streams, tiny.device, tiny.table, k=0)
    sim = StreamSimulator(tiny.streams, tiny.device, tiny.table)
    with pytest.raises(ConfigError, match="digest"):
        StreamSimulator(tiny.streams, tiny.device, tiny.table, digest=sim.digest.__class__(
            *(getattr(sim.digest, f)[:3] for f in sim.digest.__dataclass_fields__)))



def test_horizon_gain_is_the_request_kept_for_the_next_steps(tiny, tiny_sim) -> None:
    s = tiny.streams
    never = tiny_sim.run(get_policy("never"))
    once = tiny_sim.run(get_policy("periodic", period=10_000))  # asks at the first step of every stream only
    value = (ndcg_at(torch.as_tensor(once.ranks), 10) - ndcg_at(torch.as_tensor(never.ranks), 10)).numpy()
    log = tiny_sim.run(get_policy("never"), log=True, horizon=2, discount=0.5).log
    gains = np.zeros(s.n_steps)
    gains[log.steps] = log.gains
    first = s.step_offsets[:-1][s.steps_per_user > 1]
    assert np.allclose(gains[first], value[first] + 0.5 * value[first + 1], atol=1e-9)  # answer kept one step
    last = s.step_offsets[1:][s.steps_per_user > 0] - 1
    myopic = np.zeros(s.n_steps)
    short = tiny_sim.run(get_policy("never"), log=True).log
    myopic[short.steps] = short.gains
    assert np.allclose(gains[last], myopic[last])  # nothing after a stream's last step
    with pytest.raises(ConfigError, match="horizon"):
        tiny_sim.run(get_policy("never"), log=True, horizon=0)


def test_surprise_signals_are_the_small_models_view_of_earlier_clicks(tiny, tiny_sim) -> None:
    from tandem.routing.policy import RequestPolicy
    from tandem.routing.signals import normalized_surprise

    seen_signals = []

    class Recorder(RequestPolicy):
        name = "recorder"

        def decide(self, signals):
            seen_signals.append(copy.deepcopy(signals))  # the arrays are views of the replay's running state
            return np.zeros(len(signals), dtype=bool)

        def scores(self, signals):
            return np.zeros(len(signals))

    tiny_sim.run(Recorder())
    d, s = tiny_sim.digest, tiny.streams
    first, second = seen_signals[0], seen_signals[1]
    assert not first.click_surprise.any() and not first.mean_surprise.any()  # no click in the stream yet
    users = np.flatnonzero(s.steps_per_user > 1)
    assert len(second) == users.size  # the tiny fleet replays as one chunk
    expected = normalized_surprise(d.target_logp[torch.as_tensor(s.step_offsets[users])],
                                   d.n_unseen[torch.as_tensor(s.step_offsets[users])]).numpy()
    assert np.all(second.click_surprise > 0)
    np.testing.assert_allclose(np.sort(second.click_surprise), np.sort(expected), rtol=1e-5)
    np.testing.assert_allclose(second.mean_surprise, second.click_surprise, rtol=1e-6)  # one click so far
