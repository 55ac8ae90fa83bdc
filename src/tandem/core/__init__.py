"""tandem.core: the wire (codecs, envelope, byte-accounting link), simulated clock, messages, errors.

Everything here is runtime-neutral: the simulator and the HTTP server use the same encodings and
count the same bytes.
"""

from tandem.core.clock import SimClock
from tandem.core.codecs import Codec, available_codecs, get_codec, register_codec
from tandem.core.envelope import EnvelopeHeader, decode_state, encode_state, read_header
from tandem.core.errors import (
    ConfigError,
    DataError,
    DataNotFoundError,
    PayloadError,
    TandemError,
    TransportError,
)
from tandem.core.link import Link, LinkLedger, NetworkProfile, transfer_time_s
from tandem.core.messages import ClientUpdate, InferenceRequest, InferenceResponse, ModelDelivery

__all__ = [
    "ClientUpdate",
    "Codec",
    "ConfigError",
    "DataError",
    "DataNotFoundError",
    "EnvelopeHeader",
    "InferenceRequest",
    "InferenceResponse",
    "Link",
    "LinkLedger",
    "ModelDelivery",
    "NetworkProfile",
    "PayloadError",
    "SimClock",
    "TandemError",
    "TransportError",
    "available_codecs",
    "decode_state",
    "encode_state",
    "get_codec",
    "read_header",
    "register_codec",
    "transfer_time_s",
]
