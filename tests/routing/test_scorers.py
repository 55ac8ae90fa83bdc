import numpy as np
import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.routing import CloudTable, FactorizedDevice, ModelDevice
from tandem.routing.scorers import top_candidates


def test_top_candidates_excludes_history_and_padding() -> None:
    logits = torch.tensor([[9.0, 5.0, 4.0, 3.0, 1.0]])
    ids, logp = top_candidates(logits, torch.tensor([[0, 1]]), 2)
    assert ids.tolist() == [[2, 3]]
    assert torch.exp(logp).sum() < 1 and logp[0, 0] > logp[0, 1]


def test_factorized_device_matches_the_model(tiny) -> None:
    steps = np.arange(0, tiny.streams.n_steps, 7)
    live = ModelDevice(tiny.small).logits(tiny.streams, steps)
    fast = tiny.device.logits(tiny.streams, steps)
    torch.testing.assert_close(fast[:, 1:], live[:, 1:], atol=1e-4, rtol=1e-4)
    items = torch.randint(1, 61, (steps.size, 5))
    torch.testing.assert_close(tiny.device.logits_at(tiny.streams, steps, items), live.gather(1, items),
                               atol=1e-4, rtol=1e-4)
    with pytest.raises(ConfigError):
        FactorizedDevice(torch.zeros(3, 4), torch.zeros(5, 3))


def test_cloud_table_equals_live_cloud(tiny) -> None:
    steps = np.array([0, 3, tiny.streams.n_steps - 1])
    ids, logp = tiny.cloud.answer(tiny.streams, steps)
    t_ids, t_logp = tiny.table.answer(tiny.streams, steps)
    assert torch.equal(ids, t_ids)
    torch.testing.assert_close(logp, t_logp)
    hist = tiny.streams.histories(steps, tiny.cloud.max_len)
    for row, h in zip(ids.tolist(), hist.tolist(), strict=True):
        assert not set(row) & (set(h) - {0})
    with pytest.raises(ConfigError):
        CloudTable(torch.zeros(2, 3), torch.zeros(2, 4))
