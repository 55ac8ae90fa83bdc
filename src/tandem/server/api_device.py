"""Endpoints devices call: enroll, check in, pull signed models, ask the large model, take plans, send updates,
log feedback."""

from __future__ import annotations

import asyncio
import math
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool

from tandem.core.envelope import encode_state
from tandem.core.messages import freeze_json
from tandem.server.auth import require_device, require_enroller
from tandem.server.errors import rejected
from tandem.server.httputil import BINARY_BODY, BINARY_RESPONSE, message_response, meta_header, read_body
from tandem.server.store import Device

router = APIRouter(tags=["device"])
ModelId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.\-]{1,128}$")]
Kind = Annotated[str, Query(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
DeviceDep = Annotated[Device, Depends(require_device)]


class EnrollRequest(BaseModel):
    name: str = Field(min_length=1, max_length=256)
    profile: dict[str, Any] = Field(default_factory=dict)

    @field_validator("profile")
    @classmethod
    def _small(cls, v: dict[str, Any]) -> dict[str, Any]:
        return dict(freeze_json(v, "profile"))


class Enrolled(BaseModel):
    device_id: int
    token: str
    public_key: str
    key_id: str


class ModelInfo(BaseModel):
    model_id: str
    version: int
    spec: dict[str, Any]
    sha256: str
    n_bytes: int
    meta: dict[str, Any]
    formats: list[str]


class FeedbackEvent(BaseModel):
    requested: bool
    confidence: float = Field(ge=0.0, le=1.0)
    small_pred: int = Field(ge=0, le=1 << 31)
    cloud_pred: int | None = Field(default=None, ge=0, le=1 << 31)
    label: int | None = Field(default=None, ge=0, le=1 << 31)
    request_id: str | None = Field(default=None, max_length=128)

    @field_validator("confidence")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("confidence must be finite")
        return v


class FeedbackBatch(BaseModel):
    events: list[FeedbackEvent] = Field(min_length=1, max_length=1000)


class Accepted(BaseModel):
    accepted: int


class UploadAck(BaseModel):
    kind: str
    round: int | None
    n_bytes: int
    sha256: str


class CheckIn(BaseModel):
    device_id: int
    lease_s: float
    lease_until: float
    open_round: int | None
    selected: bool
    submitted: bool
    last_closed_round: int | None


class RoundView(BaseModel):
    round: int
    model_id: str
    base_version: int
    status: str
    strategy: str
    deadline: float
    selected: bool
    submitted: bool


@router.post("/v1/devices", response_model=Enrolled, dependencies=[Depends(require_enroller)])
def enroll(body: EnrollRequest, request: Request) -> Enrolled:
    """Enroll a device: returns its id and credential (shown once) and the key artifacts are signed with."""
    server = request.app.state.tandem
    device, token = server.store.enroll(body.name, body.profile)
    return Enrolled(
        device_id=device.id, token=token, public_key=server.signer.public_key_b64, key_id=server.signer.key_id
    )


@router.get("/v1/models/{model_id}", response_model=ModelInfo)
def model_info(model_id: ModelId, request: Request, device: DeviceDep) -> ModelInfo:
    """The latest version of a model: its spec (architecture), hash and size."""
    from tandem.server.registry import FORMATS

    info = request.app.state.tandem.registry.info(model_id)
    return ModelInfo(
        model_id=info.model_id,
        version=info.version,
        spec=info.spec,
        sha256=info.sha256,
        n_bytes=info.n_bytes,
        meta=info.meta,
        formats=list(FORMATS),
    )


@router.get("/v1/models/{model_id}/artifact", response_class=Response, responses={**BINARY_RESPONSE, 304: {}})
def artifact(
    model_id: ModelId,
    request: Request,
    device: DeviceDep,
    format: Literal["full", "fp16", "int8", "delta", "mask"] = "full",
    version: Annotated[int | None, Query(ge=1, le=1 << 31)] = None,
    base: Annotated[int | None, Query(ge=1, le=1 << 31)] = None,
    have_version: Annotated[int | None, Header(alias="x-tandem-have-version", ge=0, le=1 << 31)] = None,
    if_none_match: Annotated[str | None, Header(alias="if-none-match", max_length=256)] = None,
) -> Response:
    """A signed model artifact. ``304`` when the device already has it (``If-None-Match`` with the ETag, or
    ``X-Tandem-Have-Version`` equal to the version); a delta's base defaults to the version the device has."""
    server = request.app.state.tandem
    target = server.registry.info(model_id, version).version
    if format != "mask" and have_version == target:
        return Response(status_code=304, headers={"X-Tandem-Version": str(target)})
    if format == "delta":
        base = base if base is not None else have_version
        if base is None:
            raise rejected(422, "bad_request", "format=delta needs base=<version you hold> or X-Tandem-Have-Version")
    signed = server.registry.artifact(
        model_id,
        target,
        format,
        base=base if format == "delta" else None,
        device_id=device.id if format == "mask" else None,
    )
    etag = f'"{signed.sha256}"'
    headers = {"ETag": etag, "X-Tandem-Version": str(target), "Cache-Control": "no-cache"}
    if if_none_match is not None and etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    server.metrics.bytes_out.labels(f"model_{format}").inc(len(signed.payload))
    headers.update(
        {
            "X-Tandem-Sha256": signed.sha256,
            "X-Tandem-Signature": signed.signature,
            "X-Tandem-Key-Id": signed.key_id,
            "X-Tandem-Format": format,
            "X-Tandem-Base": "" if signed.context["base"] is None else str(signed.context["base"]),
            "X-Tandem-Mask-Device": "" if signed.context["device"] is None else str(signed.context["device"]),
        }
    )
    return Response(signed.payload, media_type="application/octet-stream", headers=headers)


@router.post("/v1/infer", response_class=Response, openapi_extra=BINARY_BODY, responses=BINARY_RESPONSE)
async def infer(request: Request, device: DeviceDep) -> Response:
    """Ask the large model: body is an envelope with ``x`` [rows, features]; answer an envelope with ``logits``."""
    server = request.app.state.tandem
    if server.inference is None:
        raise rejected(503, "no_inference_model", "this server has no large model to serve")
    payload = await read_body(request)
    limit = server.max_body_bytes
    if len(payload) <= 1 << 16:  # a small request decodes faster than a hop to the thread pool
        x = server.inference.parse(payload, limit)
    else:
        x = await run_in_threadpool(server.inference.parse, payload, limit)
    logits = await server.inference.predict(x)
    out = encode_state({"logits": logits}, "fp32")
    server.metrics.bytes_in.labels("infer").inc(len(payload))
    server.metrics.bytes_out.labels("infer").inc(len(out))
    server.metrics.inference_rows.inc(x.shape[0])
    request_id = request.headers.get("x-tandem-request-id", "")[:128]
    return Response(out, media_type="application/octet-stream", headers={"X-Tandem-Request-Id": request_id})


@router.post("/v1/feedback", response_model=Accepted)
def feedback(body: FeedbackBatch, request: Request, device: DeviceDep) -> Accepted:
    """Log request-policy decisions (confidence, requested or not, both answers, label if known)."""
    server = request.app.state.tandem
    n = server.store.log_feedback(device.id, [e.model_dump() for e in body.events])
    for e in body.events:
        server.metrics.feedback.labels(str(e.requested).lower()).inc()
    return Accepted(accepted=n)


@router.post("/v1/checkin", response_model=CheckIn)
def checkin(request: Request, device: DeviceDep) -> CheckIn:
    """Heartbeat: renew this device's lease (only live devices are selected for rounds) and learn the round
    state: the open round, whether this device is in it and has answered, and the newest closed round."""
    server = request.app.state.tandem
    until = server.store.touch(device.id)
    row = server.rounds.current()
    return CheckIn(
        device_id=device.id,
        lease_s=server.store.lease_s,
        lease_until=until,
        open_round=None if row is None else row["round"],
        selected=row is not None and device.id in row["devices"],
        submitted=row is not None and device.id in row["received"],
        last_closed_round=server.rounds.counts()["last_closed"],
    )


@router.get("/v1/rounds/current", response_model=RoundView)
def current_round(request: Request, device: DeviceDep) -> RoundView:
    """The open federated round and whether this device is in it and has answered (404 if none is open)."""
    row = request.app.state.tandem.rounds.current()
    if row is None:
        raise rejected(404, "no_open_round", "no federated round is open")
    return RoundView(
        round=row["round"],
        model_id=row["model_id"],
        base_version=row["base_version"],
        status=row["status"],
        strategy=row["strategy"],
        deadline=row["deadline"],
        selected=device.id in row["devices"],
        submitted=device.id in row["received"],
    )


@router.get("/v1/mailbox", response_class=Response, responses={**BINARY_RESPONSE, 204: {}})
async def take_message(
    request: Request,
    device: DeviceDep,
    kind: Kind | None = None,
    wait_s: Annotated[float, Query(ge=0, le=30)] = 0.0,
) -> Response:
    """Take the oldest message waiting for this device (a round plan, ...); 204 if none arrives within ``wait_s``."""
    server = request.app.state.tandem
    loop = asyncio.get_running_loop()
    until = loop.time() + wait_s
    while True:
        messages = await run_in_threadpool(server.transport.receive_on_device, device.id, kind, 1)
        if messages:
            server.metrics.bytes_out.labels(messages[0].kind).inc(messages[0].n_bytes)
            return message_response(messages[0])
        if loop.time() >= until:
            return Response(status_code=204)
        await asyncio.sleep(min(0.1, max(until - loop.time(), 0)))


@router.post("/v1/mailbox", response_model=UploadAck, openapi_extra=BINARY_BODY)
async def send_message(request: Request, device: DeviceDep, kind: Kind = "update") -> UploadAck:
    """Send a message to the cloud (an update: ``X-Tandem-Meta`` {round, n_examples, metrics}).

    Answered only after the message is durably stored; refused (4xx, nothing stored) when it does not
    check out: see :class:`~tandem.server.mailbox.ServerTransport`.
    """
    server = request.app.state.tandem
    payload = await read_body(request)
    meta = meta_header(request)
    receipt = await run_in_threadpool(server.transport.send_to_cloud, device.id, kind, payload, meta)
    server.metrics.bytes_in.labels(kind).inc(receipt.n_bytes)
    if kind == "update":
        server.metrics.updates.inc()
    from tandem.transport.signing import sha256_hex

    return UploadAck(
        kind=kind,
        round=meta.get("round") if kind == "update" else None,
        n_bytes=receipt.n_bytes,
        sha256=sha256_hex(payload),
    )
