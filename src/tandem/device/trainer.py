"""The device side of a federated round: take a plan, train on local data, send the update.

Training is the reference trainer of the one client step
(:class:`~tandem.federated.client_trainer.SequentialRuntime`) over the device's own data (one client), so
a real device and a simulated client given the same plan, data and seed return the same parameters, bit
for bit (DESIGN principle 1): the ``LocalObjective`` contract (FedProx, SCAFFOLD,
FedPer, Ditto, q-FedAvg) is honoured in one place only. :class:`DeviceTrainer` works over any
:class:`~tandem.transport.base.Transport`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tandem.core.errors import ConfigError
from tandem.core.messages import ClientUpdate
from tandem.data.clients import RoundView
from tandem.federated.client_trainer import LossFn, SequentialRuntime
from tandem.federated.strategy import ClientResult, RoundPlan
from tandem.federated.wire import PLAN_KIND, decode_plan, encode_result, plan_context
from tandem.transport.base import Message, Receipt, Transport
from tandem.transport.messaging import submit_update
from tandem.transport.signing import SignatureError, verify_artifact


class DeviceData:
    """One device's private examples as the runtimes' ``ClientData`` (client ``client_id`` only).

    Other client ids have no examples, so a runtime asked about them trains nothing.
    """

    def __init__(self, client_id: int, x: Any, y: Any, eval_x: Any = None, eval_y: Any = None) -> None:
        self.client_id = int(client_id)
        x = torch.as_tensor(x)
        self.X = x.to(torch.float32) if x.is_floating_point() else x
        self.y = torch.as_tensor(y, dtype=torch.int64)
        if self.y.ndim != 1 or len(self.X) != len(self.y):
            raise ConfigError(f"DeviceData: x {tuple(self.X.shape)} and y {tuple(self.y.shape)} do not align")
        self.eval = None
        if eval_x is not None:
            self.eval = (torch.as_tensor(eval_x, dtype=self.X.dtype), torch.as_tensor(eval_y, dtype=torch.int64))

    @property
    def n_clients(self) -> int:
        return self.client_id + 1

    def sizes(self, client_ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(client_ids, dtype=np.int64)
        return np.where(ids == self.client_id, len(self.y), 0).astype(np.int64)

    def _view(self, ids: np.ndarray, x: torch.Tensor, y: torch.Tensor) -> RoundView:
        rows = [np.arange(len(y)) if int(c) == self.client_id else np.zeros(0, np.int64) for c in ids]
        return RoundView(x, y, rows)

    def round_view(self, client_ids: np.ndarray) -> RoundView:
        return self._view(np.asarray(client_ids), self.X, self.y)

    def local_eval_view(self, client_ids: np.ndarray) -> RoundView | None:
        return None if self.eval is None else self._view(np.asarray(client_ids), *self.eval)


class DeviceTrainer:
    """Trains round plans on one device's data and answers with updates.

    Parameters
    ----------
    model:
        The architecture (weights come from each plan).
    data:
        The device's :class:`DeviceData`; its ``client_id`` seeds the local data order.
    device_id:
        The id updates are sent as on the transport (default: ``data.client_id``; a server assigns its own
        ids at enrolment, while the data order follows the client id, as in the simulator).
    loss_fn:
        Mean loss ``loss_fn(outputs, targets)`` (cross-entropy by default).
    seed:
        Local data-order seed (``default_rng([seed, round, client_id])``, as in the simulator).
    codec, compress:
        How updates travel up.
    public_key:
        The cloud's Ed25519 public key (base64); when set, unsigned or tampered plans are refused.
    """

    def __init__(
        self,
        model: nn.Module,
        data: DeviceData,
        *,
        device_id: int | None = None,
        loss_fn: LossFn = F.cross_entropy,
        seed: int = 0,
        codec: str = "fp32",
        compress: str | None = None,
        public_key: str | None = None,
    ) -> None:
        self.data = data
        self.device_id = data.client_id if device_id is None else int(device_id)
        self.runtime = SequentialRuntime(model, data, seed=seed, loss_fn=loss_fn)
        self.codec, self.compress, self.public_key = codec, compress, public_key

    def open_plan(self, message: Message) -> RoundPlan:
        """Verify (if a key is pinned) and decode a plan message; SignatureError / PayloadError if bad."""
        meta = message.meta
        if self.public_key is not None:
            if not isinstance(meta.get("signature"), str) or not isinstance(meta.get("sha256"), str):
                raise SignatureError(f"plan for round {meta.get('round')!r} is unsigned; refusing it")
            verify_artifact(
                self.public_key,
                message.payload,
                signature=meta["signature"],
                sha256=meta["sha256"],
                context=plan_context(meta.get("round", -1)),
            )
        plan = decode_plan(message.payload)
        if plan.round != meta.get("round"):
            raise SignatureError(f"plan payload is for round {plan.round}, its message says {meta.get('round')!r}")
        return plan

    def train(self, plan: RoundPlan) -> ClientResult:
        """Train this device on ``plan`` (the simulator's local-training semantics)."""
        with torch.no_grad():
            missing = [k for k in self.runtime.keys if k not in plan.params]
        if missing:
            raise ConfigError(f"device {self.device_id}: plan lacks parameters {missing[:5]} of its model")
        return self.runtime.fit(plan, [self.data.client_id])[0]

    def update_for(self, plan: RoundPlan) -> ClientUpdate:
        """Train on ``plan`` and encode the result as the update this device sends."""
        update = encode_result(plan.round, self.train(plan), codec=self.codec, compress=self.compress)
        return dataclasses.replace(update, device_id=self.device_id)

    def step(self, transport: Transport) -> list[Receipt]:
        """Answer every plan waiting for this device on ``transport``; one receipt per update sent."""
        receipts = []
        for message in transport.receive_on_device(self.device_id, PLAN_KIND):
            receipts.append(submit_update(transport, self.update_for(self.open_plan(message))))
        return receipts
