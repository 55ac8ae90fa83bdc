"""Admin endpoints (admin bearer token): models, masks, devices, rounds, the cloud end of the mailbox, feedback.

The read-only views (``GET``) are what a dashboard builds on; every write is validated before anything
is stored.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from tandem.core.envelope import decode_state
from tandem.server.auth import require_admin
from tandem.server.errors import rejected
from tandem.server.httputil import BINARY_BODY, BINARY_RESPONSE, message_response, meta_header, read_body
from tandem.server.registry import VersionInfo
from tandem.server.rounds import RoundSpec

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])
ModelId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.\-]{1,128}$")]
Kind = Annotated[str, Query(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]


class VersionOut(BaseModel):
    model_id: str
    version: int
    sha256: str
    n_bytes: int
    spec: dict[str, Any]
    meta: dict[str, Any]
    created_at: float


class DeviceOut(BaseModel):
    id: int
    name: str
    status: str
    profile: dict[str, Any]
    created_at: float


class RoundIn(BaseModel):
    model_id: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,128}$")
    strategy: str = Field(default="fedavg", max_length=64)
    strategy_kwargs: dict[str, Any] = Field(default_factory=dict)
    objective: dict[str, Any] = Field(default_factory=dict)
    devices: list[Annotated[int, Field(ge=1, le=1 << 31)]] | None = Field(default=None, max_length=100_000)
    clients_per_round: int | None = Field(default=None, ge=1, le=1_000_000)
    deadline_s: float = Field(default=300.0, gt=0, le=7 * 86400)
    min_updates: int = Field(default=1, ge=0, le=1_000_000)
    close_when_complete: bool = True
    codec: str = Field(default="fp32", pattern=r"^(fp32|fp16|int8)$")
    quorum: float | None = Field(default=None, gt=0, le=1)
    over_selection: float = Field(default=1.0, ge=1, le=10)


class RoundOut(BaseModel):
    round: int
    model_id: str
    base_version: int
    status: str
    strategy: str
    devices: list[int]
    received: list[int]
    deadline: float
    opened_at: float
    closed_at: float | None
    result_version: int | None
    n_updates: int | None
    quorum: int | None
    clients_per_round: int | None
    opened_by: str
    closed_by: str | None


class PolicyOut(BaseModel):
    policy: dict[str, Any] | None
    status: str
    lease_s: float
    live_devices: int
    rounds: int
    last_closed_round: int | None


class BroadcastOut(BaseModel):
    kind: str
    n_bytes: int
    devices: list[int]


def _version_out(info: VersionInfo) -> VersionOut:
    return VersionOut(
        model_id=info.model_id,
        version=info.version,
        sha256=info.sha256,
        n_bytes=info.n_bytes,
        spec=info.spec,
        meta=info.meta,
        created_at=info.created_at,
    )


def _round_out(row: dict[str, Any]) -> RoundOut:
    return RoundOut(**{k: row[k] for k in RoundOut.model_fields})


@router.post("/models/{model_id}/versions", response_model=VersionOut, openapi_extra=BINARY_BODY)
async def register_version(model_id: ModelId, request: Request) -> VersionOut:
    """Register the next version: body is an fp32/fp16 envelope of the full state; ``X-Tandem-Meta``
    {"spec": {...}, "meta": {...}} (the spec may be left out after the first version)."""
    server = request.app.state.tandem
    payload = await read_body(request)
    head = meta_header(request)
    state, _ = await run_in_threadpool(decode_state, payload, max_bytes=server.max_body_bytes)

    def register() -> VersionInfo:
        spec = head.get("spec")
        if spec is None:
            latest = server.registry.latest(model_id)
            if latest is None:
                raise rejected(422, "bad_request", f"model {model_id!r} is new: X-Tandem-Meta must give its spec")
            spec = latest.spec
        return server.registry.register(model_id, state, spec, head.get("meta") or {})

    return _version_out(await run_in_threadpool(register))


@router.put("/models/{model_id}/versions/{version}/mask", response_model=VersionOut, openapi_extra=BINARY_BODY)
async def put_mask(
    model_id: ModelId,
    request: Request,
    version: Annotated[int, Path(ge=1, le=1 << 31)],
    device_id: Annotated[int | None, Query(ge=1, le=1 << 31)] = None,
) -> VersionOut:
    """Register a binary mask (envelope of 0/1 tensors) for one device, or the default one."""
    server = request.app.state.tandem
    payload = await read_body(request)
    mask, _ = await run_in_threadpool(decode_state, payload, max_bytes=server.max_body_bytes)
    await run_in_threadpool(server.registry.set_mask, model_id, version, mask, device_id)
    return _version_out(server.registry.info(model_id, version))


@router.get("/models", response_model=list[VersionOut])
def list_models(request: Request) -> list[VersionOut]:
    """The latest version of every model."""
    return [_version_out(i) for i in request.app.state.tandem.registry.models()]


@router.get("/models/{model_id}/versions/{version}", response_model=VersionOut)
def get_version(model_id: ModelId, version: Annotated[int, Path(ge=1, le=1 << 31)], request: Request) -> VersionOut:
    return _version_out(request.app.state.tandem.registry.info(model_id, version))


@router.get("/models/{model_id}/versions/{version}/state", response_class=Response, responses=BINARY_RESPONSE)
def get_state(model_id: ModelId, version: Annotated[int, Path(ge=1, le=1 << 31)], request: Request) -> Response:
    """The stored fp32 envelope of a version (for evaluation and export)."""
    from tandem.core.envelope import encode_state

    state = request.app.state.tandem.registry.state(model_id, version)
    return Response(encode_state(state, "fp32"), media_type="application/octet-stream")


@router.get("/devices", response_model=list[DeviceOut])
def list_devices(
    request: Request, status: Annotated[str | None, Query(pattern="^(active|revoked)$")] = None
) -> list[DeviceOut]:
    return [DeviceOut(**vars(d)) for d in request.app.state.tandem.store.devices(status)]


@router.post("/devices/{device_id}/revoke", response_model=DeviceOut)
def revoke(device_id: Annotated[int, Path(ge=1, le=1 << 31)], request: Request) -> DeviceOut:
    """Revoke a device: its token stops working at once (401/403 on every call)."""
    store = request.app.state.tandem.store
    if not store.revoke(device_id):
        raise rejected(404, "not_found", f"no device {device_id}")
    request.app.state.tandem.activity.forget(device_id)
    return next(DeviceOut(**vars(d)) for d in store.devices() if d.id == device_id)


@router.post("/rounds", response_model=RoundOut)
def open_round(body: RoundIn, request: Request) -> RoundOut:
    """Open a federated round: the plan (signed) goes to the chosen devices' mailboxes (the listed ones, else
    live devices: all, or ``ceil(clients_per_round * over_selection)`` of them); it closes when ``quorum`` (a
    fraction of the selected) or all have answered, or at its deadline."""
    return _round_out(request.app.state.tandem.rounds.open(RoundSpec(**body.model_dump())))


@router.get("/rounds", response_model=list[RoundOut])
def list_rounds(request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> list[RoundOut]:
    """The newest rounds, newest first."""
    return [_round_out(row) for row in request.app.state.tandem.rounds.recent(limit)]


@router.get("/policy", response_model=PolicyOut)
def policy(request: Request) -> PolicyOut:
    """How rounds open (the server's round policy, or none: admin calls only), what it waits for, live devices."""
    server = request.app.state.tandem
    counts = server.rounds.counts()
    return PolicyOut(
        policy=None if server.policy is None else server.policy.describe(),
        status=server.rounds.policy_status if server.policy is not None else "rounds open on POST /v1/admin/rounds",
        lease_s=server.store.lease_s,
        live_devices=len(server.store.live_devices()),
        rounds=counts["rounds"],
        last_closed_round=counts["last_closed"],
    )


@router.get("/rounds/current", response_model=RoundOut)
def current(request: Request) -> RoundOut:
    row = request.app.state.tandem.rounds.current()
    if row is None:
        raise rejected(404, "no_open_round", "no federated round is open")
    return _round_out(row)


@router.get("/rounds/{rnd}", response_model=RoundOut)
def get_round(rnd: Annotated[int, Path(ge=1, le=1 << 31)], request: Request) -> RoundOut:
    return _round_out(request.app.state.tandem.rounds.get(rnd))


@router.post("/rounds/{rnd}/close", response_model=RoundOut)
def close_round(rnd: Annotated[int, Path(ge=1, le=1 << 31)], request: Request) -> RoundOut:
    """Aggregate now (without waiting for a quorum or the deadline) and publish the new version."""
    return _round_out(request.app.state.tandem.rounds.close(rnd))


@router.post("/mailbox", response_model=BroadcastOut, openapi_extra=BINARY_BODY)
async def broadcast(
    request: Request,
    kind: Kind,
    devices: Annotated[list[Annotated[int, Field(ge=1, le=1 << 31)]], Query(min_length=1, max_length=10_000)],
) -> BroadcastOut:
    """Cloud -> devices: the same payload to each listed device (``X-Tandem-Meta`` is its meta)."""
    server = request.app.state.tandem
    payload = await read_body(request)
    meta = meta_header(request)
    if kind == "plan" and server.rounds.status_of(meta.get("round", -1)) is not None:
        raise rejected(409, "round_exists", f"round {meta.get('round')} is a server-managed round")
    receipt = await run_in_threadpool(server.transport.broadcast, devices, kind, payload, meta)
    server.metrics.bytes_out.labels(kind).inc(receipt.total_bytes)
    return BroadcastOut(kind=kind, n_bytes=receipt.n_bytes, devices=[int(d) for d in receipt.device_ids])


@router.get("/mailbox", response_class=Response, responses={**BINARY_RESPONSE, 204: {}})
async def take_upload(
    request: Request,
    kind: Kind | None = None,
    until: Annotated[float | None, Query(ge=0, le=1e12)] = None,
    wait_s: Annotated[float, Query(ge=0, le=30)] = 0.0,
) -> Response:
    """Take the oldest upload not yet taken (of ``kind``, received by ``until``); 204 if none within ``wait_s``."""
    server = request.app.state.tandem
    loop = asyncio.get_running_loop()
    end = loop.time() + wait_s
    while True:
        messages = await run_in_threadpool(server.transport.receive_on_cloud, kind, until, 1)
        if messages:
            return message_response(messages[0])
        if loop.time() >= end:
            return Response(status_code=204)
        await asyncio.sleep(min(0.1, max(end - loop.time(), 0)))


@router.get("/feedback")
def feedback_summary(request: Request) -> dict[str, Any]:
    """Counts of logged request-policy decisions."""
    return request.app.state.tandem.store.feedback_summary()
