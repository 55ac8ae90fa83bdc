"""The server's endpoints: health, metrics, OpenAPI, enrollment, signed delivery in every format, inference."""

from __future__ import annotations

import time

import torch
from tests.server.conftest import admin, bearer, enroll, register, small_state

from tandem.core.envelope import decode_state, encode_state
from tandem.server.registry import artifact_context
from tandem.transport.signing import verify_artifact


def test_health_metrics_openapi(client) -> None:
    assert client.get("/health").json()["status"] == "ok"
    text = client.get("/metrics").text
    assert "tandem_http_requests_total" in text and "# TYPE" in text
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/devices", "/v1/infer", "/v1/mailbox", "/v1/admin/rounds", "/metrics"} <= set(paths)


def test_enrollment_and_credentials(client) -> None:
    assert client.post("/v1/devices", json={"name": "x"}, headers=bearer("wrong")).status_code == 403
    ((device_id, token),) = enroll(client).items()
    register(client)
    assert client.get("/v1/models/small", headers=bearer(token)).status_code == 200
    assert client.get("/v1/models/small", headers=bearer(token[:-2] + "xx")).status_code == 401
    assert client.get("/v1/models/small").status_code == 401
    assert client.post(f"/v1/admin/devices/{device_id}/revoke", headers=admin()).json()["status"] == "revoked"
    response = client.get("/v1/models/small", headers=bearer(token))
    assert response.status_code == 403 and response.json()["error"]["code"] == "revoked_device"
    assert client.get("/v1/admin/devices", headers=bearer(token)).status_code == 403


def test_delivery_formats_are_signed_and_decode(client, app) -> None:
    ((_, token),) = enroll(client).items()
    v1, v2 = small_state(0), small_state(1)
    register(client, v1)
    register(client, v2)
    key = app.state.tandem.signer.public_key_b64
    for fmt, tol in (("full", 0.0), ("fp16", 1e-3), ("int8", 0.05)):
        r = client.get("/v1/models/small/artifact", params={"format": fmt}, headers=bearer(token))
        assert r.status_code == 200 and r.headers["x-tandem-version"] == "2"
        verify_artifact(
            key,
            r.content,
            signature=r.headers["x-tandem-signature"],
            sha256=r.headers["x-tandem-sha256"],
            context=artifact_context("small", 2, fmt, None, None),
        )
        state = decode_state(r.content)[0]
        assert all(float((state[k].float() - v2[k]).abs().max()) <= tol for k in v2)
    r = client.get(
        "/v1/models/small/artifact", params={"format": "delta"}, headers={**bearer(token), "X-Tandem-Have-Version": "1"}
    )
    delta = decode_state(r.content)[0]
    assert all(torch.allclose(v1[k] + delta[k], v2[k], atol=1e-6) for k in v2)
    # negotiation: the device already holds v2, or already holds these exact bytes
    assert (
        client.get("/v1/models/small/artifact", headers={**bearer(token), "X-Tandem-Have-Version": "2"}).status_code
        == 304
    )
    etag = client.get("/v1/models/small/artifact", headers=bearer(token)).headers["etag"]
    assert client.get("/v1/models/small/artifact", headers={**bearer(token), "If-None-Match": etag}).status_code == 304


def test_per_device_mask(client) -> None:
    tokens = enroll(client, 2)
    register(client)
    (d1, t1), (_, t2) = tokens.items()
    mask = {"0.weight": (torch.rand(16, 8) > 0.5)}
    assert client.get("/v1/models/small/artifact?format=mask", headers=bearer(t1)).status_code == 404
    r = client.put(
        f"/v1/admin/models/small/versions/1/mask?device_id={d1}", content=encode_state(mask, "bitmask"), headers=admin()
    )
    assert r.status_code == 200, r.text
    got = client.get("/v1/models/small/artifact?format=mask", headers=bearer(t1))
    assert got.headers["x-tandem-mask-device"] == str(d1)
    assert torch.equal(decode_state(got.content)[0]["0.weight"], mask["0.weight"])
    assert client.get("/v1/models/small/artifact?format=mask", headers=bearer(t2)).status_code == 404
    bad = {"0.weight": torch.full((16, 8), 0.5)}
    r = client.put("/v1/admin/models/small/versions/1/mask", content=encode_state(bad), headers=admin())
    assert r.status_code == 422 and "neither 0 nor 1" in r.json()["error"]["message"]


def test_inference_answers_and_refuses_bad_inputs(client, app) -> None:
    ((_, token),) = enroll(client).items()
    x = torch.randn(5, 8)
    r = client.post("/v1/infer", content=encode_state({"x": x}), headers=bearer(token))
    assert r.status_code == 200
    logits = decode_state(r.content)[0]["logits"]
    with torch.no_grad():
        assert torch.allclose(logits, app.state.tandem.inference.model(x), atol=1e-5)
    nan = torch.randn(2, 8)
    nan[0, 3] = float("nan")
    bad_inputs = [
        encode_state({"x": torch.randn(5, 7)}),
        encode_state({"x": torch.randn(5, 8), "y": torch.randn(1)}),
        _nonfinite_envelope(nan),
        encode_state({"x": torch.randn(1000, 8)}),
        b"not an envelope",
    ]
    for body in bad_inputs:
        r = client.post("/v1/infer", content=body, headers=bearer(token))
        assert r.status_code == 422, r.text
        assert r.json()["error"]["message"]
    assert 'tandem_rejected_total{reason="bad_payload"} 5.0' in client.get("/metrics").text


def _nonfinite_envelope(x: torch.Tensor) -> bytes:
    from tandem.core.codecs import get_codec

    return encode_state({"x": x}, get_codec("fp32", allow_nonfinite=True))


def test_feedback_is_logged_and_validated(client) -> None:
    ((_, token),) = enroll(client).items()
    events = [
        {"requested": True, "confidence": 0.4, "small_pred": 1, "cloud_pred": 2, "label": 2},
        {"requested": False, "confidence": 0.95, "small_pred": 0, "label": 0},
    ]
    assert client.post("/v1/feedback", json={"events": events}, headers=bearer(token)).json() == {"accepted": 2}
    summary = client.get("/v1/admin/feedback", headers=admin()).json()
    assert summary == {"events": 2, "requested": 1, "labelled": 2, "small_correct": 1}
    for bad in ([{"requested": True, "confidence": 1.5, "small_pred": 0}], [], [{"confidence": 0.5}]):
        assert client.post("/v1/feedback", json={"events": bad}, headers=bearer(token)).status_code == 422
    assert client.get("/v1/admin/feedback", headers=admin()).json()["events"] == 2


def test_inference_is_batched_across_concurrent_requests(client, app) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ((_, token),) = enroll(client).items()
    engine = app.state.tandem.inference
    engine.max_wait_s = 0.05
    # a slow forward pass in a worker thread: requests that arrive meanwhile queue up and share the next batch,
    # however loaded the machine is (with an instant model, eight requests could be served one by one)
    engine.inline_rows, fast = 0, engine.model
    engine.model = lambda x: (time.sleep(0.2), fast(x))[1]
    bodies = [encode_state({"x": torch.randn(3, 8)}) for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda b: client.post("/v1/infer", content=b, headers=bearer(token)).status_code, bodies))
    assert codes == [200] * 8
    assert engine.rows == 24 and engine.batches < 8
