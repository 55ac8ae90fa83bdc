"""Sequential-recommendation fixtures for the delivery tests: the tiny data of tests/models plus a trained pair."""

from __future__ import annotations

import pytest
import torch
from tests.models import conftest as model_fixtures

from tandem.models.seqrec import SequentialRecommender, build_seqrec
from tandem.models.seqrec_data import SeqRecSplit
from tandem.models.seqrec_training import fit_seqrec

# The tiny data set and the one-thread guard are the model tests' fixtures, shared rather than copied.
tiny_sequences = model_fixtures.tiny_sequences
tiny_split = model_fixtures.tiny_split
_one_thread = model_fixtures._one_thread


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
