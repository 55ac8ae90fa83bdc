"""Tiny sequential-recommendation fixtures shared by the model and delivery tests (no downloads)."""

from __future__ import annotations

import pytest
import torch

from tandem.data import make_synthetic_fleet
from tandem.data.sequences import SequenceDataset
from tandem.models.seqrec_data import SeqRecSplit, leave_one_out_split


@pytest.fixture(scope="session")
def tiny_sequences() -> SequenceDataset:
    """150 synthetic users over 40 items with learnable structure (ragged lengths 6..20)."""
    return make_synthetic_fleet(n_users=150, n_items=40, n_clusters=4, seq_len=20, min_seq_len=6,
                                follow_prob=0.7, seed=3).sequences


@pytest.fixture(scope="session")
def tiny_split(tiny_sequences: SequenceDataset) -> SeqRecSplit:
    return leave_one_out_split(tiny_sequences, max_len=12)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tests share 2 cores with other work: keep torch on one thread and deterministic."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)
