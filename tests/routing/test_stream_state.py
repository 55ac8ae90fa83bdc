import numpy as np
import pytest
import torch

from tandem.routing.stream_state import EMA, ChunkState


def test_running_signals_follow_only_devices_that_hold_an_answer(tiny) -> None:
    users = np.arange(3)
    st = ChunkState.start(tiny.streams, users, n_cand=4)
    st.has[:] = torch.tensor([True, True, False])
    st.ids[:] = torch.tensor([[5, 6, 7, 8]] * 3)
    targets = torch.tensor([6, 9, 6])  # user 0: second in the cloud list; user 1: not in it
    rank = torch.tensor([0, 20, 0])  # the device showed users 0 and 2 the click first
    st.after_step(3, targets, rank, 10, None, torch.tensor([1.0, 0.0, 1.0]))
    assert st.edge_ema.tolist() == pytest.approx([(1 - EMA) * (0.5 - 1.0), 0.0, 0.0])
    assert st.hit_ema.tolist() == pytest.approx([1 - EMA, 0.0, 0.0])  # user 2 holds nothing: unchanged
    st.after_step(3, targets, rank, 10, None, torch.tensor([1.0, 1.0, 1.0]))
    assert st.hit_ema[0].item() == pytest.approx(EMA * (1 - EMA) + (1 - EMA))
    assert bool(st.seen[0, 6]) and st.age[2].item() > 0


def test_surprise_keeps_the_newest_click_and_the_stream_sum(tiny) -> None:
    st = ChunkState.start(tiny.streams, np.arange(2), n_cand=4)
    targets, rank = torch.tensor([6, 9]), torch.tensor([3, 30])
    st.after_step(2, targets, rank, 10, None, None, torch.tensor([0.5, 2.0]))
    st.after_step(2, targets, rank, 10, None, None, torch.tensor([1.5, 1.0]))
    assert st.surprise.tolist() == pytest.approx([1.5, 1.0])
    assert st.surprise_sum.tolist() == pytest.approx([2.0, 3.0])
