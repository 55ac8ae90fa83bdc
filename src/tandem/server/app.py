"""The cloud server: :func:`create_app` builds the FastAPI application over a database URL.

Everything is configured by keyword arguments (the CLI ``tandem serve`` reads options and passes them
on). One process serves one database; the Ed25519 signing key is generated on first start and kept in
the database, so devices keep trusting the server across restarts. On start the server resumes the
open federated round, and a background task closes rounds at their deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from torch import nn

from tandem.core.errors import ConfigError, PayloadError, TransportError
from tandem.federated.strategy import Params
from tandem.report.dashboard import dashboard_router
from tandem.server.dashboard_provider import FleetActivity, ServerDashboard
from tandem.server.errors import Rejected
from tandem.server.inference import BatchedModel
from tandem.server.mailbox import ServerTransport, UpdateHook
from tandem.server.metrics import ServerMetrics
from tandem.server.policy import RoundPolicy
from tandem.server.registry import ModelRegistry, NotFoundError
from tandem.server.rounds import AggregatedHook, RoundManager
from tandem.server.store import Store
from tandem.transport.signing import ArtifactSigner

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 64 << 20


@dataclass
class Server:
    """Everything a request handler needs, hung on ``app.state.tandem``."""

    store: Store
    signer: ArtifactSigner
    registry: ModelRegistry
    transport: ServerTransport
    rounds: RoundManager
    metrics: ServerMetrics
    admin_token: str
    enroll_key: str | None
    max_body_bytes: int
    inference: BatchedModel | None
    activity: FleetActivity = field(default_factory=FleetActivity)
    policy: RoundPolicy | None = None


def create_app(
    db_url: str = "sqlite:///tandem.db",
    *,
    admin_token: str | None = None,
    enroll_key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    inference_model: nn.Module | None = None,
    inference_in_features: int | None = None,
    max_wait_ms: float = 2.0,
    max_batch_rows: int = 1024,
    upload_kinds: tuple[str, ...] = ("metrics",),
    on_update: UpdateHook | None = None,
    on_aggregated: AggregatedHook | None = None,
    tick_s: float = 0.2,
    signing_key: bytes | None = None,
    dashboard_refresh_s: float = 2.0,
    online_window_s: float = 30.0,
    lease_s: float = 30.0,
    round_policy: RoundPolicy | None = None,
) -> FastAPI:
    """The tandem server application.

    Parameters
    ----------
    db_url:
        ``sqlite:///path.db`` (default, WAL) or ``postgresql+psycopg://user:pw@host/db``.
    admin_token:
        Bearer token of the admin API; ``None`` generates one (read it from ``app.state.tandem.admin_token``).
    enroll_key:
        Bearer key devices enroll with; ``None``: only the admin token enrolls.
    max_body_bytes:
        Largest request body; larger ones get 413 before they are read.
    inference_model, inference_in_features:
        The large model served by ``POST /v1/infer`` (``[rows, in] -> [rows, classes]``); none: 503.
    max_wait_ms, max_batch_rows:
        Micro-batching of inference requests (:class:`~tandem.server.inference.BatchedModel`).
    upload_kinds:
        Message kinds devices may send besides updates.
    on_update, on_aggregated:
        Round hooks: check each decoded update (raise PayloadError to refuse it); see each new global model.
    tick_s:
        How often the server checks round deadlines.
    signing_key:
        32-byte Ed25519 private key; ``None``: the one stored in the database (created on first start).
    lease_s:
        A device is live (selectable for a round) while it checked in, or made any authenticated request,
        within this many seconds.
    round_policy:
        Open rounds without an admin: a :class:`~tandem.server.policy.RoundPolicy` (schedule and/or minimum
        of live devices); ``None``: rounds open only on ``POST /v1/admin/rounds``.
    dashboard_refresh_s, online_window_s:
        The live dashboard at ``/dashboard`` (data behind the admin token) polls this often; a device heard
        from within ``online_window_s`` counts as online there.
    """
    if max_body_bytes < 1024:
        raise ConfigError(f"max_body_bytes must be >= 1024, got {max_body_bytes}")
    store = Store(db_url, lease_s=lease_s)
    key = (
        signing_key
        if signing_key is not None
        else store.setting_or_create("signing_key", lambda: ArtifactSigner().private_bytes())
    )
    signer = ArtifactSigner(key)
    registry = ModelRegistry(store, signer)
    transport = ServerTransport(store, max_payload_bytes=max_body_bytes, upload_kinds=upload_kinds, on_update=on_update)
    metrics = ServerMetrics()

    def aggregated(rnd: int, params: Params) -> None:
        metrics.rounds_closed.inc()
        if on_aggregated is not None:
            on_aggregated(rnd, params)

    rounds = RoundManager(store, registry, transport, signer, on_aggregated=aggregated)
    inference = None
    if inference_model is not None:
        if inference_in_features is None:
            raise ConfigError("inference_in_features is required with inference_model")
        inference = BatchedModel(
            inference_model, inference_in_features, max_wait_ms=max_wait_ms, max_batch_rows=max_batch_rows
        )
    server = Server(
        store,
        signer,
        registry,
        transport,
        rounds,
        metrics,
        admin_token or secrets.token_urlsafe(24),
        enroll_key,
        int(max_body_bytes),
        inference,
        FleetActivity(online_window_s=online_window_s),
        round_policy,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(rounds.resume)
        task = asyncio.create_task(_ticker(server, tick_s))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            store.close()

    app = FastAPI(
        title="tandem cloud server",
        version="1",
        description="Device enrollment, signed model delivery, batched large-model inference, federated rounds.",
        lifespan=lifespan,
        docs_url=None,  # served below from the swagger-ui-bundle package, not a CDN: /docs works offline
        redoc_url=None,
    )
    _offline_docs(app)
    app.state.tandem = server
    _install_handlers(app, server)
    from tandem.server.api_admin import router as admin_router
    from tandem.server.api_device import router as device_router
    from tandem.server.api_public import router as public_router
    from tandem.server.auth import require_admin

    app.include_router(public_router)
    app.include_router(device_router)
    app.include_router(admin_router)
    app.include_router(
        dashboard_router(
            ServerDashboard(server), auth=require_admin, refresh_s=dashboard_refresh_s, title="tandem fleet"
        )
    )
    return app


def _offline_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI whose script, stylesheet and icon come from the installed ``swagger-ui-bundle``
    package (under ``/docs/assets``), so the page works on a machine with no internet."""
    import swagger_ui_bundle
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    app.mount("/docs/assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )


async def _ticker(server: Server, tick_s: float) -> None:
    while True:
        await asyncio.sleep(tick_s)
        try:
            await run_in_threadpool(server.rounds.tick)
            if server.policy is not None:
                await run_in_threadpool(server.rounds.auto_open, server.policy)
            current = await run_in_threadpool(server.rounds.current)
            server.metrics.open_round.set(0 if current is None else current["round"])
        except Exception as exc:  # keep ticking: a failed close is retried next tick, but never silently
            log.exception("round ticker: closing, opening or reading the open round failed")
            server.activity.error("round_tick", f"{type(exc).__name__}: {exc}", "round ticker")
            await asyncio.sleep(tick_s)


def _error(server: Server, status: int, code: str, message: str, where: str = "") -> JSONResponse:
    server.metrics.rejected.labels(code).inc()
    server.activity.error(code, message, where)
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _rejected_status(exc: Exception) -> tuple[int, str]:
    assert isinstance(exc, Rejected)  # registered for Rejected only
    return exc.status, exc.code


def _install_handlers(app: FastAPI, server: Server) -> None:
    handlers: dict[type[Exception], Callable[[Exception], tuple[int, str]]] = {
        Rejected: _rejected_status,
        NotFoundError: lambda e: (404, "not_found"),
        PayloadError: lambda e: (422, "bad_payload"),
        ConfigError: lambda e: (422, "bad_request"),
        TransportError: lambda e: (422, "bad_message"),
    }
    for exc_type, how in handlers.items():

        async def handle(request: Request, exc: Exception,
                         how: Callable[[Exception], tuple[int, str]] = how) -> JSONResponse:
            status, code = how(exc)
            message = getattr(exc, "message", None) or str(exc)
            return _error(server, status, code, message, f"{request.method} {request.url.path}")

        app.add_exception_handler(exc_type, handle)

    async def validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()][:10]
        return _error(server, 422, "schema", json.dumps(errors, default=str), f"{request.method} {request.url.path}")

    # Starlette types every handler as taking any Exception; this one is registered for RequestValidationError only
    app.add_exception_handler(RequestValidationError, validation)  # type: ignore[arg-type]

    app.add_middleware(_Observe, server=server)


class _Observe:
    """Pure ASGI middleware: refuse oversized bodies by Content-Length (413) and count every request.

    (Starlette's ``BaseHTTPMiddleware`` costs a task and a stream copy per request; this costs neither.)
    """

    def __init__(self, app: ASGIApp, server: Server) -> None:
        self.app, self.server = app, server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.server.max_body_bytes):
            limit = self.server.max_body_bytes
            message = f"request body of {length.decode(errors='replace')} bytes is over the limit of {limit}"
            where = f"{scope.get('method', '')} {scope.get('path', '')}"
            await _error(self.server, 413, "too_large", message, where)(scope, receive, send_status)
        else:
            try:
                await self.app(scope, receive, send_status)
            except Exception as exc:  # answered 500 by Starlette; shown on the dashboard, then re-raised
                where = f"{scope.get('method', '')} {scope.get('path', '')}"
                self.server.activity.error("internal", f"{type(exc).__name__}: {exc}", where)
                raise
        route = scope.get("route")
        name = getattr(route, "path", "unmatched")
        self.server.metrics.requests.labels(name, str(status[0])).inc()
        self.server.metrics.latency.labels(name).observe(time.perf_counter() - started)
