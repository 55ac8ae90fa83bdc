import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.models.ranking import rank_of_target
from tandem.routing import available_combiners, get_combiner
from tandem.routing.combine import HeldAnswer, RankQuery

K = 10


def random_case(seed: int, b: int = 300, items: int = 60, n: int = 12):
    g = torch.Generator().manual_seed(seed)
    seen = torch.rand(b, items + 1, generator=g) < 0.2
    seen[:, 0] = True
    slogp = torch.log_softmax((torch.randn(b, items + 1, generator=g) * 2).masked_fill(seen, float("-inf")), 1)
    ids = torch.stack([torch.randperm(items, generator=g)[:n] + 1 for _ in range(b)])
    cloud = torch.sort(torch.randn(b, n, generator=g) - 3, descending=True, dim=1).values
    cloud[torch.rand(b, generator=g) < 0.2] = float("-inf")  # devices holding no answer
    cloud = cloud.masked_fill(seen.gather(1, ids), float("-inf"))
    target = torch.where(torch.rand(b, generator=g) < 0.5, ids[:, 3], torch.randint(1, items + 1, (b,), generator=g))
    held = HeldAnswer(ids, cloud, torch.randint(0, items + 1, (b, 3), generator=g), torch.randn(items + 1, 4))
    query = RankQuery(target, slogp.gather(1, target.view(-1, 1)).squeeze(1), slogp.topk(K + n + 1, 1).values,
                      (~seen).sum(1), held, slogp.gather(1, ids))
    return slogp, held, target, query


@pytest.mark.parametrize(("name", "kwargs"), [
    ("small", {}), ("cloud", {}), ("fusion", {"weight": 0.5}), ("fusion", {"weight": 0.0}),
    ("fusion", {"weight": 1.0}), ("fusion", {"weight": 0.8}), ("rerank", {}), ("rerank", {"click_weight": 0.0}),
])
def test_fast_target_rank_equals_full_ranking(name: str, kwargs: dict) -> None:
    combiner = get_combiner(name, **kwargs)
    for seed in range(3):
        slogp, held, target, query = random_case(seed)
        full = rank_of_target(combiner.combine(slogp, held), target)
        fast = combiner.target_rank(query)
        inside = full < K
        assert inside.sum() > 10  # the check is not vacuous
        assert torch.equal(fast[inside], full[inside])
        assert bool((fast[~inside] >= K).all())


def test_age_aware_fusion_is_exact_and_uses_the_weight_of_each_age() -> None:
    combiner = get_combiner("fusion", weight=0.5, age_weights=[0.9, 0.6, 0.3, 0.0])
    for seed in range(3):
        slogp, held, target, query = random_case(seed)
        held.age = torch.randint(0, 7, (held.ids.shape[0],), generator=torch.Generator().manual_seed(seed)).float()
        full = rank_of_target(combiner.combine(slogp, held), target)
        fast = combiner.target_rank(query)
        inside = full < K
        assert inside.sum() > 10
        assert torch.equal(fast[inside], full[inside])
        assert bool((fast[~inside] >= K).all())
        # each row ranks as a constant-weight fusion with its own age's weight (ages past the table: the last)
        for age, w in ((0, 0.9), (2, 0.3), (5, 0.0)):
            rows = held.age == age
            plain = get_combiner("fusion", weight=w).target_rank(query)
            assert torch.equal(fast[rows], plain[rows])
    slogp, held, target, query = random_case(0)
    assert torch.equal(combiner.target_rank(query), get_combiner("fusion", weight=0.5).target_rank(query))  # no age
    with pytest.raises(ConfigError):
        get_combiner("fusion", age_weights=[0.5, 1.2])
    with pytest.raises(ConfigError):
        get_combiner("fusion", age_weights=[])


def test_conditional_answers_take_their_own_age_weights() -> None:
    combiner = get_combiner("fusion", weight=0.5, age_weights=[0.9, 0.4, 0.2], next_weights=[0.9, 0.8, 0.6])
    slogp, held, target, query = random_case(1)
    g = torch.Generator().manual_seed(1)
    held.age = torch.randint(0, 4, (held.ids.shape[0],), generator=g).float()
    held.conditional = (torch.rand(held.ids.shape[0], generator=g) < 0.5) & (held.age > 0)
    w = combiner.weights(held)
    plain, cond = [0.9, 0.4, 0.2, 0.2], [0.9, 0.8, 0.6, 0.6]
    expected = torch.tensor([(cond if c else plain)[int(a)] for a, c in zip(held.age, held.conditional, strict=True)])
    assert torch.allclose(w, expected)
    full = rank_of_target(combiner.combine(slogp, held), target)
    fast = combiner.target_rank(query)
    inside = full < K
    assert inside.sum() > 10 and torch.equal(fast[inside], full[inside])
    held.conditional = None  # no row conditional: the plain table everywhere
    assert torch.allclose(combiner.weights(held), torch.tensor([plain[int(a)] for a in held.age]))
    with pytest.raises(ConfigError, match="next_weights"):
        get_combiner("fusion", next_weights=[1.5])


def test_the_target_is_counted_once_even_when_its_two_small_scores_differ_in_the_last_bit() -> None:
    # the digest (top_small, target_small) and the candidate scores (cand_small) come from two computations
    ids, cloud = torch.tensor([[1, 2]]), torch.tensor([[-1.0, -2.0]])
    held = HeldAnswer(ids, cloud, torch.zeros(1, 0, dtype=torch.int64))
    for cand, x in ((-0.9999999, -0.99999995), (-1.0000001, -1.00000005)):
        q = RankQuery(torch.tensor([1]), torch.tensor([-1.0]), torch.tensor([[-1.0, -3.0, -4.0]]), torch.tensor([3]),
                      held, torch.tensor([[cand, -3.0]]))
        assert q.noncandidates_at_least(torch.tensor([x])).item() == 0


def test_registry_and_errors() -> None:
    assert available_combiners() == ["cloud", "fusion", "rerank", "small"]
    with pytest.raises(ConfigError, match="unknown combiner"):
        get_combiner("median")
    with pytest.raises(ConfigError):
        get_combiner("fusion", weight=2.0)
    with pytest.raises(ConfigError):
        get_combiner("rerank", cloud_weight=-1.0)
