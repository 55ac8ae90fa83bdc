import numpy as np
import pytest
import torch

from tandem.core.envelope import read_header
from tandem.core.errors import ConfigError, PayloadError
from tandem.delivery.mask import (
    ROWS,
    MaskGenerator,
    default_mask_targets,
    device_scores,
    mask_payload,
    mask_rows,
    masked_logits,
    soft_masked_logits,
    straight_through,
)
from tandem.delivery.personal import fit_personalizer
from tandem.models.ranking import next_item_examples
from tandem.models.seqrec import build_seqrec


def test_straight_through_is_hard_forward_and_sigmoid_backward():
    scores = torch.tensor([-2.0, 0.5, 3.0], requires_grad=True)
    mask = straight_through(scores)
    assert mask.tolist() == [0.0, 1.0, 1.0]
    mask.sum().backward()
    torch.testing.assert_close(scores.grad, torch.sigmoid(scores) * (1 - torch.sigmoid(scores)))


def test_dropped_items_rank_below_every_kept_item():
    logits = torch.tensor([[float("-inf"), 5.0, 1.0, 3.0, -2.0]])
    out = mask_rows(logits, torch.tensor([[1.0, 0.0, 1.0, 1.0, 1.0]]))
    assert torch.isneginf(out[0, 0]) and out[0, 1] < out[0, 2:].min()
    assert out[0, 2:].tolist() == [1.0, 3.0, -2.0]


def test_initial_generator_is_the_supernet_and_training_does_not_touch_it(trained_pair, tiny_split):
    cloud, device = trained_pair
    frozen = {n: p.detach().clone() for n, p in device.named_parameters()}
    generator = MaskGenerator(device, cloud, user_dim=16).eval()
    history = torch.as_tensor(tiny_split.test_histories[:5])
    with torch.no_grad():
        torch.testing.assert_close(generator(history), device(history))
    histories, targets = next_item_examples(list(tiny_split.train), tiny_split.max_len)
    start = {n: p.detach().clone() for n, p in generator.named_parameters() if p.requires_grad}
    fit_personalizer(generator, histories, targets, epochs=2, batch_size=64, lr=1e-2)
    assert any(not torch.equal(p, start[n]) for n, p in generator.named_parameters() if n in start)
    for name, p in device.named_parameters():
        assert torch.equal(p, frozen[name])


def test_the_device_computes_the_cloud_scores_from_the_wire(trained_pair, tiny_split):
    cloud, device = trained_pair
    generator = MaskGenerator(device, cloud, user_dim=16, init_score=0.2).eval()
    history = torch.as_tensor(tiny_split.test_histories[:3])
    masks = generator.masks(history)
    assert masks.keys() == {*default_mask_targets(device), ROWS}
    with torch.no_grad():
        cloud_side = generator(history)
    for b in range(3):
        payload = mask_payload({n: m[b] for n, m in masks.items()}, meta={"user": b})
        bits = sum(m[b].numel() for m in masks.values())
        assert len(payload) < bits / 8 + 2000 and read_header(payload).codec == "bitmask"
        torch.testing.assert_close(device_scores(device, payload, history[b : b + 1])[0], cloud_side[b])


def test_masked_logits_with_all_ones_is_the_supernet(trained_pair, tiny_split):
    _, device = trained_pair
    history = torch.as_tensor(tiny_split.test_histories[:2])
    ones = {n: torch.ones(2, *p.shape) for n, p in device.named_parameters() if n in default_mask_targets(device)}
    with torch.no_grad():
        torch.testing.assert_close(masked_logits(device, ones, history), device(history))


def test_bad_inputs_are_rejected(trained_pair):
    cloud, device = trained_pair
    with pytest.raises(ConfigError, match="unknown parameter"):
        MaskGenerator(device, cloud, targets=["nope.weight"])
    with pytest.raises(ConfigError, match="nothing to mask"):
        MaskGenerator(device, cloud, targets=[], item_rows=False)
    with pytest.raises(ConfigError, match="vmap"):
        MaskGenerator(build_seqrec("gru4rec", device.n_items, device.max_len), cloud)
    bad = mask_payload({ROWS: torch.ones(5, dtype=torch.bool)})
    with pytest.raises(PayloadError, match="does not fit"):
        device_scores(device, bad, torch.ones(1, device.max_len, dtype=torch.long))
    assert np.isfinite(MaskGenerator(device, cloud, keep_penalty=0.1).regularizer().item())


def test_validation_keeps_the_best_generator_including_the_untrained_one(trained_pair, tiny_split):
    from tandem.models.seqrec_eval import evaluate_seqrec

    cloud, device = trained_pair
    generator = MaskGenerator(device, cloud, user_dim=16)
    histories, targets = next_item_examples(list(tiny_split.train), tiny_split.max_len)
    valid = (tiny_split.valid_histories, tiny_split.valid_targets, tiny_split.valid_seen)
    fit = fit_personalizer(generator, histories, targets, epochs=2, batch_size=64, lr=5e-2, valid=valid)
    scores = fit["valid_ndcg@10"]
    assert len(scores) == 3 and fit["best_epoch"] == max(range(3), key=lambda e: (scores[e], -e))
    kept = evaluate_seqrec(generator, *valid[:2], seen=valid[2])["ndcg@10"]
    assert kept == pytest.approx(max(scores)) and kept >= scores[0]  # never below the plain supernet


def test_annealing_lowers_the_temperature_to_its_end(trained_pair):
    cloud, device = trained_pair
    generator = MaskGenerator(device, cloud, user_dim=16, tau_start=1.0, tau_end=0.01)
    taus = []
    for fraction in (0.0, 0.5, 1.0, 2.0):
        generator.set_progress(fraction)
        taus.append(generator.tau)
    assert taus == pytest.approx([1.0, 0.1, 0.01, 0.01])
    with pytest.raises(ConfigError, match="relaxation"):
        MaskGenerator(device, cloud, relaxation="gumbel")
    with pytest.raises(ConfigError, match="tau_start"):
        MaskGenerator(device, cloud, tau_start=0.1, tau_end=0.5)


def test_soft_masks_tend_to_the_hard_ranking_and_eval_is_hard(trained_pair, tiny_split):
    cloud, device = trained_pair
    generator = MaskGenerator(device, cloud, user_dim=16)
    history = torch.as_tensor(tiny_split.test_histories[:4])
    torch.manual_seed(1)
    with torch.no_grad():
        for param in generator.parameters():
            if param.requires_grad:
                param.normal_(0.0, 1.0)  # a generator that drops some entries
        scores = generator.scores(history)
        hard = masked_logits(device, {n: (v > 0).float() for n, v in scores.items()}, history)
        assert 0.0 < float((scores[ROWS][:, 1:] > 0).float().mean()) < 1.0
        soft = soft_masked_logits(device, scores, history, tau=1e-4)
        kept = scores[ROWS][:, 1:] > 0
        torch.testing.assert_close(soft[:, 1:][kept], hard[:, 1:][kept], atol=1e-3, rtol=1e-3)
        assert bool((soft[:, 1:][~kept] < -1e3).all())  # dropped items fall below every kept one
        generator.eval()
        torch.testing.assert_close(generator(history), hard)
        generator.train()
        assert not torch.allclose(generator(history), hard)  # training runs the soft masks


def test_training_anneals_from_the_first_step_to_the_last(trained_pair, tiny_split):
    cloud, device = trained_pair
    histories, targets = next_item_examples(list(tiny_split.train), tiny_split.max_len)
    generator = MaskGenerator(device, cloud, user_dim=16, tau_start=1.0, tau_end=0.01)
    seen: list[float] = []
    anneal = generator.set_progress
    generator.set_progress = lambda fraction: (seen.append(fraction), anneal(fraction))  # type: ignore[method-assign]
    fit_personalizer(generator, histories, targets, epochs=2, batch_size=64, lr=1e-2)
    assert seen[0] == 0.0 and seen[-1] >= 0.99 and seen == sorted(seen)
    assert generator.tau == pytest.approx(0.01, rel=0.1)
