"""A made-up fleet for the dashboard tests: 24 devices in three tiers, counters that grow on every poll."""

from __future__ import annotations

import itertools
import time

from tandem.report.dashboard import ErrorRow, FleetSnapshot, ModelRow, RoundRow


class FakeFleet:
    """A :class:`~tandem.report.dashboard.DashboardProvider` whose round fills up as it is polled."""

    def __init__(self) -> None:
        self.polls = itertools.count(1)
        self.started = time.time()

    def snapshot(self) -> FleetSnapshot:
        n = next(self.polls)
        now = self.started + n  # one simulated second per poll, so rates are exact
        return FleetSnapshot(
            devices={"flagship": {"active": 8}, "midrange": {"active": 9, "revoked": 1}, "iot": {"active": 6}},
            models=[ModelRow("next-item", 3, 17_122, self.started - 60), ModelRow("large", 1, 326_596, self.started)],
            open_round=RoundRow(7, "next-item", "fedavg", selected=20, reported=min(20, 10 + n), deadline=now + 45),
            requests_total=120.0 * n,
            inference_rows_total=512.0 * n,
            bytes_in_total=40_960.0 * n,
            bytes_out_total=2_097_152.0 * n,
            errors=[ErrorRow(now - 5, "bad_payload", "update from device 17 has NaN in layer <0.weight>")],
            at=now,
        )
