"""Prometheus metrics of one server (``GET /metrics``): requests, latency, rejections, bytes, rounds.

Each app gets its own ``CollectorRegistry``, so several servers in one process (tests) do not mix counts.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ServerMetrics:
    """The counters the server updates; :meth:`render` is the Prometheus text exposition."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "tandem_http_requests", "HTTP requests by route and status", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "tandem_http_request_seconds",
            "Request latency by route",
            ["route"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.rejected = Counter("tandem_rejected", "Refused inputs by reason", ["reason"], registry=r)
        self.bytes_in = Counter("tandem_payload_bytes_in", "Payload bytes received, by kind", ["kind"], registry=r)
        self.bytes_out = Counter("tandem_payload_bytes_out", "Payload bytes sent, by kind", ["kind"], registry=r)
        self.updates = Counter("tandem_updates_accepted", "Client updates stored", registry=r)
        self.rounds_closed = Counter("tandem_rounds_closed", "Federated rounds aggregated and closed", registry=r)
        self.inference_rows = Counter("tandem_inference_rows", "Rows answered by the large model", registry=r)
        self.inference_batches = Gauge("tandem_inference_batches", "Forward passes of the large model", registry=r)
        self.feedback = Counter("tandem_feedback_events", "Request-policy decisions logged", ["requested"], registry=r)
        self.open_round = Gauge("tandem_open_round", "Number of the open round (0 if none)", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
