"""Unauthenticated endpoints: ``/health``, ``/metrics`` (Prometheus text) and the signing public key."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from tandem.server.metrics import CONTENT_TYPE

router = APIRouter(tags=["public"])


class Health(BaseModel):
    status: str
    database: bool
    open_round: int | None
    inference: bool


class PublicKey(BaseModel):
    algorithm: str
    public_key: str
    key_id: str


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(request: Request) -> JSONResponse:
    """Liveness and readiness: 200 when the database answers, else 503."""
    server = request.app.state.tandem
    ok = await run_in_threadpool(server.store.ping)
    current = await run_in_threadpool(server.rounds.current) if ok else None
    body = Health(
        status="ok" if ok else "degraded",
        database=ok,
        open_round=None if current is None else current["round"],
        inference=server.inference is not None,
    )
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(request: Request) -> Response:
    """Prometheus text exposition of the server's counters."""
    server = request.app.state.tandem
    if server.inference is not None:
        server.metrics.inference_batches.set(server.inference.batches)
    return Response(server.metrics.render(), media_type=CONTENT_TYPE)


@router.get("/v1/signing-key", response_model=PublicKey)
def signing_key(request: Request) -> PublicKey:
    """The Ed25519 public key artifacts are signed with (pin it on devices out of band when you can)."""
    signer = request.app.state.tandem.signer
    return PublicKey(algorithm="ed25519", public_key=signer.public_key_b64, key_id=signer.key_id)
