"""Typed messages over any Transport: model delivery down, client updates up.

Thin on purpose: the typed message (:mod:`tandem.core.messages`) says what travels, the transport
how; these helpers join them so a strategy never hand-builds ``kind``/``meta``.
"""

from __future__ import annotations

from numpy.typing import ArrayLike

from tandem.core.messages import ClientUpdate, ModelDelivery
from tandem.transport.base import BroadcastReceipt, Receipt, Transport


def deliver_model(transport: Transport, device_ids: ArrayLike, delivery: ModelDelivery) -> BroadcastReceipt:
    """Broadcast one model version to ``device_ids`` (bytes charged once per device)."""
    kind, payload, meta = delivery.to_wire()
    return transport.broadcast(device_ids, kind, payload, meta)


def receive_models(transport: Transport, device_id: int) -> list[ModelDelivery]:
    """The model deliveries waiting for ``device_id``, oldest first."""
    return [ModelDelivery.from_wire(m.payload, m.meta) for m in transport.receive_on_device(device_id, "model")]


def submit_update(transport: Transport, update: ClientUpdate) -> Receipt:
    """Send one client update to the cloud."""
    kind, payload, meta = update.to_wire()
    return transport.send_to_cloud(update.device_id, kind, payload, meta)


def collect_updates(transport: Transport, until: float | None = None) -> list[ClientUpdate]:
    """The client updates that reached the cloud (by ``until``, if given), in arrival order."""
    return [
        ClientUpdate.from_wire(m.device_id, m.payload, m.meta)
        for m in transport.receive_on_cloud(ClientUpdate.KIND, until=until)
    ]
