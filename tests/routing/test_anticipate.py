import numpy as np
import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.routing import StreamSimulator, get_combiner, get_policy
from tandem.routing.anticipate import Anticipation, anticipatory_answer, pooled_top
from tandem.routing.signals import reciprocal_rank_in_list
from tandem.routing.staleness import age_table, fit_fusion_weights


@pytest.fixture(scope="module")
def anticipation(tiny) -> Anticipation:
    return Anticipation(tiny.large, tiny.streams, n_next=20, next_len=8, max_len=tiny.cloud.max_len)


@pytest.fixture()
def ant_sim(tiny, anticipation) -> StreamSimulator:
    return StreamSimulator(tiny.streams, tiny.device, tiny.table, combiner="fusion", keep_steps=True,
                           anticipation=anticipation)


def _second_steps(streams) -> np.ndarray:
    """Steps with a step before them in the same stream."""
    k_of = np.arange(streams.n_steps) - streams.step_offsets[streams.step_user]
    return np.flatnonzero(k_of >= 1)


def test_anticipated_clicks_are_the_cloud_models_top_items(tiny, anticipation) -> None:
    steps = np.arange(tiny.streams.n_steps)
    wide = type(tiny.cloud)(tiny.large, n_candidates=20)
    ids, _ = wide.answer(tiny.streams, steps)
    assert torch.equal(anticipation.anticipated(steps), ids)


def test_the_answer_after_the_true_click_is_the_next_steps_fresh_answer(tiny, anticipation) -> None:
    s = tiny.streams
    steps = _second_steps(s)
    clicks = s.targets(steps - 1)  # the click made between the two requests
    ids, logp = anticipation.answer_after(steps - 1, clicks)
    fresh_ids, fresh_logp = tiny.table.answer(s, steps)
    assert torch.equal(ids, fresh_ids[:, :8])
    assert torch.allclose(logp, fresh_logp[:, :8], atol=1e-5)
    again, _ = anticipation.answer_after(steps - 1, clicks)  # memoized: same rows
    assert torch.equal(again, ids)
    many = Anticipation(tiny.large, tiny.streams, n_next=20, next_len=8, max_len=tiny.cloud.max_len)
    for lo in range(0, steps.size, 7):  # many small batches: the store grows past its first capacity
        many.answer_after(steps[lo : lo + 7] - 1, clicks[lo : lo + 7])
    grown, _ = many.answer_after(steps - 1, clicks)
    assert torch.equal(grown, ids)


def test_resolve_swaps_only_the_rows_whose_click_was_anticipated(tiny, anticipation) -> None:
    s = tiny.streams
    steps = _second_steps(s)[:30]
    made = steps - 1
    clicks = s.targets(made)
    ids, logp = tiny.table.answer(s, made)
    out_ids, out_logp, cond = anticipation.resolve(np.where(np.arange(30) % 5 == 0, -1, made), clicks, ids, logp)
    expected = (reciprocal_rank_in_list(torch.as_tensor(clicks), anticipation.anticipated(made)) > 0) & \
        torch.as_tensor(np.arange(30) % 5 != 0)
    assert torch.equal(cond, expected) and bool(cond.any()) and not bool(cond.all())
    assert torch.equal(out_ids[~cond], ids[~cond]) and torch.equal(out_logp[~cond], logp[~cond])
    after, _ = anticipation.answer_after(made[cond.numpy()], clicks[cond.numpy()])
    assert torch.equal(out_ids[cond, :8], after) and bool((out_ids[cond, 8:] == 0).all())
    assert bool(torch.isinf(out_logp[cond, 8:]).all())


def test_anticipation_keeps_the_bounds_and_charges_bytes_and_flops(tiny_sim, ant_sim) -> None:
    for name in ("never", "always"):  # never holds nothing; always holds a fresh answer: nothing to resolve
        plain, ant = tiny_sim.run(get_policy(name)), ant_sim.run(get_policy(name))
        assert ant.metrics == pytest.approx(plain.metrics)
    plain, ant = tiny_sim.run(get_policy("periodic", period=3)), ant_sim.run(get_policy("periodic", period=3))
    assert ant.requests == plain.requests and ant.bytes_down > plain.bytes_down
    assert ant.cloud_flops > plain.cloud_flops and ant_sim.request_flops > tiny_sim.request_flops
    assert (ant.ranks != plain.ranks).any()  # some steps ranked with a conditional answer


def test_one_click_after_a_request_the_conditional_answer_ranks_like_a_fresh_one(tiny, anticipation) -> None:
    wide = Anticipation(tiny.large, tiny.streams, n_next=60, next_len=tiny.table.n_candidates,
                        max_len=tiny.cloud.max_len)
    sim = StreamSimulator(tiny.streams, tiny.device, tiny.table, combiner=get_combiner("fusion", weight=0.5),
                          anticipation=wide)
    table = age_table(sim, 2)
    cond = table.conditional
    assert not cond[:, 0].any() and cond[:, 1].any()
    assert np.allclose(table.ndcg[cond[:, 1], 1], table.ndcg[cond[:, 1], 0])


def test_age_table_reproduces_the_anticipating_simulator(ant_sim) -> None:
    table = age_table(ant_sim, 3)
    run = ant_sim.run(get_policy("periodic", period=3))
    s = ant_sim.streams
    k_of = np.arange(s.n_steps) - s.step_offsets[s.step_user]
    assert table.ndcg[np.arange(s.n_steps), k_of % 3].mean() == pytest.approx(run.metrics["ndcg@10"])


def test_fit_fusion_weights_fits_conditional_answers_on_their_own_steps(ant_sim, tiny_sim) -> None:
    fitted = fit_fusion_weights(ant_sim, 3, [0.0, 0.5, 1.0])
    assert fitted.next_weights is not None and len(fitted.next_weights) == 4
    assert fitted.next_weights[0] == fitted.age_weights[0]
    assert fit_fusion_weights(tiny_sim, 3, [0.0, 0.5, 1.0]).next_weights is None


def test_anticipation_rejects_bad_settings(tiny, anticipation) -> None:
    with pytest.raises(ConfigError):
        Anticipation(tiny.large, tiny.streams, n_next=0)
    with pytest.raises(ConfigError, match="item ids"):
        anticipation.answer_after(np.array([0, 1]), np.array([3, 0]))
    with pytest.raises(ConfigError):
        Anticipation(tiny.large, tiny.streams, n_next=5, next_len=0)
    other = type(tiny.streams)(tiny.split.log)
    with pytest.raises(ConfigError, match="other streams"):
        StreamSimulator(other, tiny.device, tiny.table, anticipation=anticipation)


@pytest.mark.parametrize("arch", ["sasrec", "gru4rec"])
def test_the_served_anticipatory_answer_matches_the_simulated_one(tiny, arch) -> None:
    from tandem.models.seqrec import build_seqrec

    torch.manual_seed(1)
    model = build_seqrec(arch, 60, 10, "small", dim=24).eval()
    sim_side = Anticipation(model, tiny.streams, n_next=6, next_len=5, max_len=10)
    steps = np.arange(0, tiny.streams.n_steps, 7)
    hist = torch.as_tensor(tiny.streams.histories(steps, 10, 10))
    ids, _, items, n_ids, n_logp = anticipatory_answer(model, hist, 8, 6, 5)
    assert ids.shape == (steps.size, 8) and n_ids.shape == (steps.size, 6, 5) == n_logp.shape
    assert torch.equal(items, sim_side.anticipated(steps))
    flat_ids, flat_logp = sim_side.answer_after(np.repeat(steps, 6), items.reshape(-1).numpy())
    assert torch.equal(n_ids.reshape(-1, 5), flat_ids)
    assert torch.allclose(n_logp.reshape(-1, 5), flat_logp, atol=1e-4)
    with pytest.raises(ConfigError):
        anticipatory_answer(model, hist, 8, 0, 5)


@pytest.mark.parametrize("arch", ["sasrec", "gru4rec"])
def test_a_pooled_answer_is_served_as_simulated_and_a_whole_catalogue_pool_changes_nothing(tiny, arch) -> None:
    from tandem.models.seqrec import build_seqrec

    torch.manual_seed(2)
    model = build_seqrec(arch, 60, 10, "small", dim=24).eval()
    steps = np.arange(0, tiny.streams.n_steps, 5)
    hist = torch.as_tensor(tiny.streams.histories(steps, 10, 10))
    sim_side = Anticipation(model, tiny.streams, n_next=6, next_len=5, max_len=10, pool=12)
    _, _, items, n_ids, n_logp = anticipatory_answer(model, hist, 8, 6, 5, pool=12)
    flat_ids, flat_logp = sim_side.answer_after(np.repeat(steps, 6), items.reshape(-1).numpy())
    assert torch.equal(n_ids.reshape(-1, 5), flat_ids)
    assert torch.allclose(n_logp.reshape(-1, 5), flat_logp, atol=1e-4)
    for row in range(steps.size):  # every conditional answer stays inside its request's pool of 12
        pool_ids = torch.topk(torch.log_softmax(model(hist[row : row + 1]).masked_fill(
            torch.zeros(1, 61, dtype=torch.bool).scatter(1, hist[row : row + 1], True), float("-inf")), 1), 12).indices
        base_pool = set(pool_ids.view(-1).tolist())
        assert set(n_ids[row].reshape(-1).tolist()) - {0} <= base_pool
    short = hist[torch.as_tensor(tiny.streams.step_position[steps] < 9)]  # both exclude the whole history
    assert short.shape[0] > 5
    _, _, _, full_ids, full_logp = anticipatory_answer(model, short, 8, 6, 5)
    _, _, _, wide_ids, wide_logp = anticipatory_answer(model, short, 8, 6, 5, pool=60)
    assert torch.equal(wide_ids, full_ids) and torch.allclose(wide_logp, full_logp, atol=1e-4)


def test_pooling_cuts_the_charged_flops_and_rejects_bad_pools(tiny) -> None:
    whole = Anticipation(tiny.large, tiny.streams, n_next=6, next_len=5)
    if callable(getattr(tiny.large, "appended_flops", None)):
        assert Anticipation(tiny.large, tiny.streams, n_next=6, next_len=5, pool=10).extra_flops < whole.extra_flops
    with pytest.raises(ConfigError, match="pool"):
        Anticipation(tiny.large, tiny.streams, n_next=6, next_len=5, pool=4)
    with pytest.raises(ConfigError, match="pool"):
        anticipatory_answer(tiny.large, torch.ones(1, 10, dtype=torch.int64), 8, 6, 5, pool=3)
    with pytest.raises(ConfigError, match="pooled_top"):
        pooled_top(torch.zeros(2, 4), torch.ones(2, 4, dtype=torch.int64), torch.zeros(2, 3), torch.ones(2), 2)


def test_pooled_top_by_hand() -> None:
    after = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    ids, logp = pooled_top(after, torch.tensor([[5, 6, 7, 0]]), torch.log(torch.tensor([[0.2, 0.1, 0.2, 0.0]])),
                           torch.tensor([7]), 2)
    assert ids.tolist() == [[6, 5]]  # 7 is the click and 0 is an empty slot
    expected = torch.log_softmax(torch.tensor([0.0, 1.0]), 0).flip(0) + np.log(0.5)  # the pool held half the mass
    assert torch.allclose(logp[0], expected)


def test_ranked_ids_from_a_wide_cloud_table_give_the_same_anticipated_clicks(tiny) -> None:
    from tandem.routing import CloudTable, ModelCloud

    wide = CloudTable.precompute(ModelCloud(tiny.large, n_candidates=9), tiny.streams)
    computed = Anticipation(tiny.large, tiny.streams, n_next=6, next_len=5, max_len=10)  # the cloud's window
    shared = Anticipation(tiny.large, tiny.streams, n_next=6, next_len=5, max_len=10, ranked=wide.ids)
    steps = np.arange(tiny.streams.n_steps)
    assert torch.equal(shared.anticipated(steps), computed.anticipated(steps))
    with pytest.raises(ConfigError, match="ranked"):
        Anticipation(tiny.large, tiny.streams, n_next=6, next_len=5, ranked=wide.ids[:, :3])
