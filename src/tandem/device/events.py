"""The one line a device agent prints per event, and sending an update the way every agent does.

:func:`emit` logs one line per agent event (enrolled, resumed, model pulled and verified, inference batch,
round joined, update sent, update refused) on the ``tandem.device.events`` logger; ``tandem device`` prints
those lines on stderr and a JSON summary on stdout at exit.
"""

from __future__ import annotations

import logging
from collections import Counter

from tandem.core.messages import ClientUpdate
from tandem.transport.http import HttpTransport
from tandem.transport.httpclient import HttpError

EVENTS = logging.getLogger("tandem.device.events")


def emit(who: str, event: str, detail: str = "") -> None:
    """Log one agent event as one line: ``<who> <event>[: <detail>]``."""
    EVENTS.info("%s %s%s", who, event, f": {detail}" if detail else "")


def send_update(transport: HttpTransport, device_id: int, update: ClientUpdate, who: str, counts: Counter[str]) -> bool:
    """Send one update; True if the server holds it. A round that closed meanwhile (at its quorum or deadline)
    refuses it: that is counted and printed, not raised."""
    payload_meta = update.to_wire()
    try:
        transport.send_to_cloud(device_id, *payload_meta)
    except HttpError as exc:
        if exc.code == "replayed_update" and "same bytes" in exc.message:
            pass  # a retry after a lost answer: the server already has these bytes
        elif exc.code == "late_update":
            counts["updates_refused"] += 1
            emit(who, "update refused", f"round {update.round}: {exc.message}")
            return False
        else:
            raise
    counts["updates_sent"] += 1
    emit(who, "update sent", f"answered round {update.round} ({len(payload_meta[1]):,} bytes)")
    return True
