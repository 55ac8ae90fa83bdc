"""tandem.transport: the Transport protocol algorithms see, and its in-process (simulation) implementation."""

from tandem.transport.base import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    BroadcastReceipt,
    Message,
    Receipt,
    Transport,
    TransportLedger,
    check_message,
)
from tandem.transport.inprocess import InProcessTransport
from tandem.transport.messaging import collect_updates, deliver_model, receive_models, submit_update

__all__ = [
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "BroadcastReceipt",
    "InProcessTransport",
    "Message",
    "Receipt",
    "Transport",
    "TransportLedger",
    "check_message",
    "collect_updates",
    "deliver_model",
    "receive_models",
    "submit_update",
]
