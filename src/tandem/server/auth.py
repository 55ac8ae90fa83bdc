"""Who is calling: the admin (one bearer token), an enroller (the enrollment key) or an enrolled device.

Every failure is a 401/403 with a reason, counted under ``tandem_rejected{reason=...}``. Tokens are
compared in constant time. The admin token also guards the read-only admin views and the live dashboard's
data (``/dashboard/data``); each authenticated device request marks the device as recently seen there and
renews its lease (the device is live: a round may select it).
"""

from __future__ import annotations

import hmac

from fastapi import Request

from tandem.server.dashboard_provider import tier_of
from tandem.server.errors import rejected
from tandem.server.store import Device


def bearer(request: Request) -> str:
    """The bearer token of the request, or a 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise rejected(401, "no_credentials", "missing 'Authorization: Bearer <token>' header")
    return token.strip()


def require_admin(request: Request) -> None:
    """FastAPI dependency: the caller holds the admin token."""
    server = request.app.state.tandem
    if not hmac.compare_digest(bearer(request).encode(), server.admin_token.encode()):
        raise rejected(403, "not_admin", "this endpoint needs the admin token")


def require_enroller(request: Request) -> None:
    """FastAPI dependency: the caller holds the enrollment key (or the admin token)."""
    server = request.app.state.tandem
    token = bearer(request).encode()
    keys = [server.admin_token] + ([server.enroll_key] if server.enroll_key else [])
    if not any(hmac.compare_digest(token, k.encode()) for k in keys):
        raise rejected(403, "bad_enroll_key", "enrollment needs the fleet's enrollment key")


def require_device(request: Request) -> Device:
    """FastAPI dependency: the enrolled, active device whose token this is (401 unknown, 403 revoked)."""
    server = request.app.state.tandem
    device, reason = server.store.authenticate(bearer(request))
    if device is None:
        revoked = "revoked" in reason
        raise rejected(403 if revoked else 401, "revoked_device" if revoked else "unknown_device", reason)
    server.activity.seen(device.id, tier_of(device.profile))
    server.store.touch(device.id)  # any authenticated request renews the device's lease
    return device
