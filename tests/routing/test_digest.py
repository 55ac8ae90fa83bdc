import numpy as np
import torch

from tandem.routing.digest import build_digest, seen_mask


def test_seen_mask_marks_the_history(tiny) -> None:
    s = tiny.streams
    steps = np.array([0, 1])
    mask = seen_mask(s, steps)
    user = s.seqs.sequence(int(s.step_user[1]))
    assert mask[1, 0] and all(mask[1, int(i)] for i in user[: s.step_position[1]])
    assert int(mask[1].sum()) == len(set(user[: s.step_position[1]].tolist()) | {0})


def test_digest_matches_the_full_scores(tiny) -> None:
    s = tiny.streams
    d = build_digest(s, tiny.device, depth=12)
    steps = np.arange(s.n_steps)
    logits = tiny.device.logits(s, steps).masked_fill(seen_mask(s, steps), float("-inf"))
    logp = torch.log_softmax(logits, 1)
    torch.testing.assert_close(d.top_logp, logp.topk(12, 1).values)
    torch.testing.assert_close(d.target_logp, logp.gather(1, torch.as_tensor(s.targets(steps)).view(-1, 1))[:, 0])
    assert d.n_unseen.tolist() == (logp > float("-inf")).sum(1).tolist()
    assert d.confidence.max() <= 1.0 and d.entropy.min() >= 0.0
