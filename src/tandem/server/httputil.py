"""Small helpers the routers share: bounded body reading, JSON meta headers, binary responses.

Binary payloads travel as raw ``application/octet-stream`` bodies (so the bytes counted are the bytes
sent); their small JSON metadata travels in the ``X-Tandem-Meta`` header.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NoReturn

from fastapi import Request
from fastapi.responses import Response

from tandem.core.messages import MAX_META_BYTES
from tandem.server.errors import rejected
from tandem.transport.base import Message

BINARY_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
"""``openapi_extra`` of an endpoint whose body is raw bytes."""

BINARY_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
}


async def read_body(request: Request) -> bytes:
    """The request body, refusing (413) past the server's limit even without a Content-Length."""
    limit = request.app.state.tandem.max_body_bytes
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise rejected(413, "too_large", f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def meta_header(request: Request, name: str = "x-tandem-meta") -> dict[str, Any]:
    """The JSON object in header ``name`` (empty if absent); 422 if it is not a small JSON object."""
    raw = request.headers.get(name)
    if raw is None or raw == "":
        return {}
    if len(raw) > MAX_META_BYTES:
        raise rejected(422, "bad_meta", f"header {name} is {len(raw)} bytes, over {MAX_META_BYTES}")
    try:
        value = json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise rejected(422, "bad_meta", f"header {name} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise rejected(422, "bad_meta", f"header {name} must be a JSON object")
    return value


def _no_constants(token: str) -> NoReturn:
    raise ValueError(f"{token} is not allowed")


def message_response(message: Message, extra: Mapping[str, str] | None = None) -> Response:
    """One mailbox message as a binary response with its kind and meta in headers."""
    headers = {
        "X-Tandem-Kind": message.kind,
        "X-Tandem-Meta": json.dumps(dict(message.meta), separators=(",", ":"), allow_nan=False),
        "X-Tandem-Device": str(message.device_id),
        "X-Tandem-Sent-At": repr(float(message.sent_at)),
        **dict(extra or {}),
    }
    return Response(message.payload, media_type="application/octet-stream", headers=headers)
