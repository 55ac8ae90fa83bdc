"""Tiny sequential-recommendation fixtures for the delivery tests (same as tests/models; no downloads)."""

from __future__ import annotations

import pytest
import torch

from tandem.data import make_synthetic_fleet
from tandem.data.sequences import SequenceDataset
from tandem.models.seqrec import SequentialRecommender, build_seqrec
from tandem.models.seqrec_data import SeqRecSplit, leave_one_out_split
from tandem.models.seqrec_training import fit_seqrec


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


@pytest.fixture(scope="session")
def trained_pair(tiny_split: SeqRecSplit) -> tuple[SequentialRecommender, SequentialRecommender]:
    """(cloud, device) SASRecs trained briefly on the tiny split: a 32-wide 2-layer and an 8-wide 1-layer."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cloud = build_seqrec("sasrec", tiny_split.n_items, tiny_split.max_len, "large", dim=32, dropout=0.1)
    device = build_seqrec("sasrec", tiny_split.n_items, tiny_split.max_len, "small", dim=8, dropout=0.1)
    for model in (cloud, device):
        fit_seqrec(model, tiny_split.train, tiny_split, epochs=6, batch_size=32, lr=5e-3)
    return cloud.eval(), device.eval()
