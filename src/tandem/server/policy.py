"""When the server opens federated rounds by itself: a :class:`RoundPolicy`.

A policy opens a round (with its :class:`~tandem.server.rounds.RoundSpec`) when no round is open and

* at least ``min_live`` devices are live (their lease is current), and at least ``clients_per_round``;
* ``every_s`` seconds have passed since the last round opened (a schedule; ``None``: no wait);
* the database holds fewer than ``max_rounds`` rounds (``None``: no limit).

Everything it decides from is in the database (rounds, leases), so a restarted server picks up where it
was. :func:`~tandem.server.app.create_app` takes a policy; its ticker asks
:meth:`~tandem.server.rounds.RoundManager.auto_open` a few times a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tandem.core.errors import ConfigError
from tandem.server.rounds import RoundSpec


@dataclass(frozen=True)
class RoundPolicy:
    """Open rounds of ``spec`` on a schedule (``every_s``) and/or once ``min_live`` devices are live."""

    spec: RoundSpec
    every_s: float | None = None
    min_live: int = 1
    max_rounds: int | None = None

    def __post_init__(self) -> None:
        if self.spec.devices is not None:
            raise ConfigError("a round policy selects live devices itself: its spec must not list devices")
        if self.every_s is not None and not 0 < self.every_s <= 7 * 86400:
            raise ConfigError(f"round policy: every_s must be in (0, 7 days], got {self.every_s}")
        if self.min_live < 1:
            raise ConfigError(f"round policy: min_live must be >= 1, got {self.min_live}")
        if self.max_rounds is not None and self.max_rounds < 1:
            raise ConfigError(f"round policy: max_rounds must be >= 1, got {self.max_rounds}")
        self.spec.check()

    @property
    def needed_live(self) -> int:
        """Live devices needed before a round opens."""
        return max(self.min_live, self.spec.clients_per_round or 1)

    def waiting_for(self, now: float, n_rounds: int, last_opened_at: float | None, n_live: int) -> str | None:
        """What the next round waits for (``None``: it is due now), given the database's state."""
        if self.max_rounds is not None and n_rounds >= self.max_rounds:
            return f"done: the database holds {n_rounds} rounds (max {self.max_rounds})"
        if n_live < self.needed_live:
            return f"waiting for live devices: {n_live} of {self.needed_live}"
        if self.every_s is not None and last_opened_at is not None and now < last_opened_at + self.every_s:
            return f"next round at {last_opened_at + self.every_s:.1f} (every {self.every_s:g} s)"
        return None

    def describe(self) -> dict[str, Any]:
        """The policy as JSON (what ``GET /v1/admin/policy`` shows)."""
        spec = self.spec
        return {
            "every_s": self.every_s,
            "min_live": self.min_live,
            "max_rounds": self.max_rounds,
            "model_id": spec.model_id,
            "strategy": spec.strategy,
            "objective": spec.objective,
            "clients_per_round": spec.clients_per_round,
            "over_selection": spec.over_selection,
            "quorum": spec.quorum,
            "deadline_s": spec.deadline_s,
            "min_updates": spec.min_updates,
        }
