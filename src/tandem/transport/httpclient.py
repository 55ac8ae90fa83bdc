"""A small HTTP client for the tandem server: bearer auth, retries with exponential backoff, clear errors.

Connection failures, timeouts and ``429/502/503/504`` answers are retried with exponential backoff and
full jitter (``sleep = uniform(0, min(max_backoff_s, backoff_s * 2**attempt))``), so a fleet of devices
does not hammer a restarting server in lockstep. Any other 4xx is the server refusing the request: it is
raised at once as :class:`HttpError` with the server's code and message. Retrying a POST is safe with
tandem's server: a repeated update is refused as ``replayed_update`` and stored once.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Collection, Mapping
from typing import Any

import httpx

from tandem.core.errors import ConfigError, TransportError

RETRY_STATUSES = (429, 502, 503, 504)


class HttpError(TransportError):
    """The server answered with an error status; ``status`` and ``code`` say which."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def error_of(response: httpx.Response) -> HttpError:
    """The :class:`HttpError` of a failed response (reads tandem's ``{"error": {"code", "message"}}`` body)."""
    code, message = "http_error", response.text[:500]
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            code, message = str(body["error"].get("code")), str(body["error"].get("message"))
        elif isinstance(body, dict) and "detail" in body:
            message = json.dumps(body["detail"])[:500]
    except ValueError:
        pass
    return HttpError(response.status_code, code, message)


class ApiClient:
    """Calls one tandem server.

    Parameters
    ----------
    base_url:
        The server, e.g. ``http://127.0.0.1:8000`` (ignored when ``client`` is given).
    token:
        Default bearer token (a device token or the admin token).
    timeout_s, retries, backoff_s, max_backoff_s:
        Per-request timeout; how many times to retry a retryable failure, and the backoff schedule.
    client:
        An existing ``httpx.Client`` (e.g. FastAPI's ``TestClient`` for in-process tests).
    seed:
        Seed of the backoff jitter.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        token: str | None = None,
        *,
        timeout_s: float = 30.0,
        retries: int = 6,
        backoff_s: float = 0.1,
        max_backoff_s: float = 5.0,
        client: httpx.Client | None = None,
        seed: int | None = None,
    ) -> None:
        if retries < 0 or backoff_s < 0 or max_backoff_s < backoff_s or timeout_s <= 0:
            raise ConfigError("ApiClient: need retries >= 0, 0 <= backoff_s <= max_backoff_s and timeout_s > 0")
        self.client = client if client is not None else httpx.Client(base_url=base_url, timeout=timeout_s)
        self._owns = client is None
        self.token, self.retries = token, int(retries)
        self.backoff_s, self.max_backoff_s = float(backoff_s), float(max_backoff_s)
        self.timeout_s = float(timeout_s)
        self._rng = random.Random(seed)
        self.n_retries = 0

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        ok: Collection[int] = (200,),
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request (retrying what is retryable); HttpError unless the status is in ``ok``."""
        head = dict(headers or {})
        bearer = token if token is not None else self.token
        if bearer is not None:
            head["Authorization"] = f"Bearer {bearer}"
        attempt = 0
        while True:
            try:
                response = self.client.request(method, path, headers=head, **kwargs)
            except httpx.TransportError as exc:
                if attempt >= self.retries:
                    raise TransportError(
                        f"{method} {path}: {type(exc).__name__}: {exc} (after {attempt} retries)"
                    ) from None
            else:
                if response.status_code in ok:
                    return response
                if response.status_code not in RETRY_STATUSES or attempt >= self.retries:
                    raise error_of(response)
            self._sleep(attempt)
            attempt += 1
            self.n_retries += 1

    def _sleep(self, attempt: int) -> None:
        time.sleep(self._rng.uniform(0, min(self.max_backoff_s, self.backoff_s * 2**attempt)))

    def close(self) -> None:
        if self._owns:
            self.client.close()
