"""A device trains exactly as the simulator's client runtime does, and refuses unsigned or tampered plans."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tandem.data.clients import SyntheticClients
from tandem.device.trainer import DeviceData, DeviceTrainer
from tandem.federated.client_trainer import SequentialRuntime
from tandem.federated.rounds import RoundLoop
from tandem.federated.strategy import LocalObjective, RoundPlan
from tandem.fleet import sample_fleet
from tandem.models.mlp import build_model, mlp_spec
from tandem.transport import InProcessTransport
from tandem.transport.signing import ArtifactSigner, SignatureError

SPEC = mlp_spec([6, 8, 3])
POP = SyntheticClients(5, n_features=6, n_classes=3, seed=2)


def _plan() -> RoundPlan:
    torch.manual_seed(0)
    return RoundPlan(2, build_model(SPEC).state_dict(), LocalObjective(lr=0.1, epochs=2, prox_mu=0.01))


def test_device_training_equals_the_simulated_client() -> None:
    client = 3
    view = POP.round_view(np.array([client]))
    trainer = DeviceTrainer(build_model(SPEC), DeviceData(client, view.X[view.rows[0]], view.y[view.rows[0]]), seed=7)
    on_device = trainer.train(_plan())
    simulated = SequentialRuntime(build_model(SPEC), POP, seed=7).fit(_plan(), [client])[0]
    assert on_device.n_examples == simulated.n_examples
    assert all(torch.equal(on_device.params[k], simulated.params[k]) for k in simulated.params)


def test_plans_must_be_signed_by_the_pinned_key() -> None:
    pytest.importorskip("cryptography")
    from tandem.federated.strategy import get_strategy

    transport = InProcessTransport(sample_fleet(2))
    view = POP.round_view(np.array([0]))
    data = DeviceData(0, view.X[view.rows[0]], view.y[view.rows[0]])
    signer = ArtifactSigner()
    plan = _plan()
    RoundLoop(get_strategy("fedavg")).send(transport, plan, [0])  # unsigned
    with pytest.raises(SignatureError, match="unsigned"):
        DeviceTrainer(build_model(SPEC), data, public_key=signer.public_key_b64).step(transport)
    RoundLoop(get_strategy("fedavg"), signer=ArtifactSigner()).send(transport, plan, [0])  # wrong key
    with pytest.raises(SignatureError, match="does not verify"):
        DeviceTrainer(build_model(SPEC), data, public_key=signer.public_key_b64).step(transport)
    RoundLoop(get_strategy("fedavg"), signer=signer).send(transport, plan, [0])
    receipts = DeviceTrainer(build_model(SPEC), data, public_key=signer.public_key_b64).step(transport)
    assert len(receipts) == 1 and receipts[0].kind == "update"


def test_device_data_checks_alignment() -> None:
    with pytest.raises(Exception, match="do not align"):
        DeviceData(0, np.zeros((3, 2)), np.zeros(4))
