"""Rejections: hostile or invalid input becomes a clear 4xx with a stable code, counted, nothing stored."""

from __future__ import annotations

from tandem.core.errors import TransportError


class Rejected(TransportError):  # noqa: N818 - reads as what happened: "raise Rejected(...)"
    """Refused input: ``status`` is the HTTP status, ``code`` a stable machine-readable reason."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = int(status), code, message


def rejected(status: int, code: str, message: str) -> Rejected:
    """Shorthand used by the handlers: ``raise rejected(409, "replayed_update", "...")``."""
    return Rejected(status, code, message)
