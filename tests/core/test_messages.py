"""Messages: validated on construction, frozen, and mapped to transport kind/meta and back."""

import dataclasses
import math

import pytest

from tandem.core import ClientUpdate, InferenceRequest, InferenceResponse, ModelDelivery, PayloadError
from tandem.core.messages import MAX_META_BYTES


def test_model_delivery_round_trips_through_wire_form():
    msg = ModelDelivery("rec-small", 3, bytearray(b"abc"), {"kind": "int8"})
    assert msg.payload == b"abc" and isinstance(msg.payload, bytes) and msg.n_bytes == 3
    kind, payload, meta = msg.to_wire()
    assert kind == "model"
    assert ModelDelivery.from_wire(payload, meta) == msg
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.version = 4
    with pytest.raises(TypeError):
        msg.meta["kind"] = "fp32"  # read-only view


def test_client_update_validates_counts_and_metrics():
    up = ClientUpdate(device_id=7, round=2, n_examples=128, payload=b"x" * 10, metrics={"loss": 0.25})
    kind, payload, meta = up.to_wire()
    assert kind == "update" and ClientUpdate.from_wire(7, payload, meta) == up
    for bad in ({"device_id": -1}, {"round": 1.5}, {"n_examples": True}, {"payload": "text"}):
        with pytest.raises(PayloadError):
            ClientUpdate(**{"device_id": 1, "round": 0, "n_examples": 1, "payload": b"", **bad})
    with pytest.raises(PayloadError, match="'loss'"):
        ClientUpdate(1, 0, 1, b"", {"loss": math.nan})
    with pytest.raises(PayloadError, match="lacks 'n_examples'"):
        ClientUpdate.from_wire(1, b"", {"round": 0})


def test_inference_messages_and_meta_limits():
    req = InferenceRequest(device_id=2, request_id="r-1", payload=b"q")
    resp = InferenceResponse("r-1", b"answer", {"candidates": 20})
    assert InferenceRequest.from_wire(2, *req.to_wire()[1:]) == req
    assert InferenceResponse.from_wire(*resp.to_wire()[1:]) == resp
    with pytest.raises(PayloadError):
        InferenceRequest(2, "", b"q")
    with pytest.raises(PayloadError, match="JSON"):
        InferenceResponse("r", b"", {"obj": object()})
    with pytest.raises(PayloadError, match=f"over {MAX_META_BYTES}"):
        ModelDelivery("m", 0, b"", {"blob": "x" * MAX_META_BYTES})
