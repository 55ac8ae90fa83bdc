"""A device agent that serves one client of a user's :class:`~tandem.federated.app.ClientApp`.

``tandem device --app module:object --clients 0,1`` runs one :class:`AppAgent` per client: it enrolls
(named ``client-<id>``, its profile says which client it holds), then answers every round plan that
reaches its mailbox with :class:`~tandem.device.trainer.DeviceTrainer`: the one client step over the
client's own rows, under the plan's objective, exactly as the simulator trains that client. The trainer
lives as long as the agent, so per-client state (SCAFFOLD's control variate, FedPer's personal layers,
Ditto's personal model) persists across rounds, as it does in simulation.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from typing import Any

import httpx
import numpy as np

from tandem.core.errors import ConfigError
from tandem.device.trainer import DeviceData, DeviceTrainer
from tandem.federated.app import ClientApp
from tandem.federated.wire import PLAN_KIND
from tandem.transport.http import HttpTransport
from tandem.transport.httpclient import ApiClient, HttpError

log = logging.getLogger(__name__)


def client_name(client_id: int) -> str:
    """The enrolment name of the agent holding ``client_id`` (how a driver maps clients to device ids)."""
    return f"client-{int(client_id)}"


class AppAgent:
    """One enrolled device holding client ``client_id`` of ``app.data``.

    Parameters
    ----------
    server_url, enroll_key:
        The server and the key that enrolls devices.
    app, client_id:
        The user's client and which of its clients this device is.
    public_key:
        The server's pinned plan-signing key (base64); when set, unsigned or tampered plans are refused.
    codec:
        How updates travel up.
    client, client_kwargs:
        An ``httpx.Client`` to reuse and :class:`~tandem.transport.httpclient.ApiClient` options (retries).
    """

    def __init__(
        self,
        server_url: str,
        app: ClientApp,
        client_id: int,
        *,
        enroll_key: str,
        public_key: str | None = None,
        codec: str = "fp32",
        client: httpx.Client | None = None,
        **client_kwargs: Any,
    ) -> None:
        if not 0 <= int(client_id) < app.data.n_clients:
            raise ConfigError(f"client {client_id} is not in the app's population 0..{app.data.n_clients - 1}")
        self.server_url, self.app, self.client_id = server_url, app, int(client_id)
        self.enroll_key, self.public_key, self.codec = enroll_key, public_key, codec
        self.api = ApiClient(server_url, None, client=client, **client_kwargs)
        self.client_kwargs = client_kwargs
        self.device_id: int | None = None
        self.trainer: DeviceTrainer | None = None
        self.rounds_done: list[int] = []

    def enroll(self) -> int:
        """Enroll as ``client-<id>``; builds the trainer over this client's rows. Returns the device id."""
        body = self.api.request(
            "POST",
            "/v1/devices",
            token=self.enroll_key,
            json={"name": client_name(self.client_id), "profile": {"kind": "app", "client": self.client_id}},
        ).json()
        self.api.token, self.device_id = body["token"], int(body["device_id"])
        view = self.app.data.round_view(np.array([self.client_id]))
        rows = view.rows[0]
        held = self.app.data.local_eval_view(np.array([self.client_id]))
        eval_xy = (held.X[held.rows[0]], held.y[held.rows[0]]) if held is not None else (None, None)
        data = DeviceData(self.client_id, view.X[rows], view.y[rows], *eval_xy)
        self.trainer = DeviceTrainer(
            copy.deepcopy(self.app.model), data, device_id=self.device_id, loss_fn=self.app.loss_fn,
            seed=self.app.seed, codec=self.codec, public_key=self.public_key,
        )
        log.info("client %d enrolled as device %d (%d examples)", self.client_id, self.device_id, len(rows))
        return self.device_id

    def transport(self, wait_s: float) -> HttpTransport:
        """A device-side transport with this device's credential (long-polls up to ``wait_s``)."""
        if self.device_id is None or self.api.token is None:
            raise ConfigError("enroll() first")
        return HttpTransport(
            self.server_url, device_tokens={self.device_id: self.api.token}, client=self.api.client,
            wait_s=wait_s, **self.client_kwargs,
        )

    def answer(self, wait_s: float = 1.0) -> list[int]:
        """Answer the plans waiting in this device's mailbox (waiting up to ``wait_s`` for one); returns the
        rounds answered."""
        if self.trainer is None or self.device_id is None:
            raise ConfigError("enroll() first")
        transport = self.transport(wait_s)
        answered = []
        for message in transport.receive_on_device(self.device_id, PLAN_KIND):
            update = self.trainer.update_for(self.trainer.open_plan(message))
            try:
                transport.send_to_cloud(self.device_id, *update.to_wire())
            except HttpError as exc:  # a retry after a lost answer: the server already has these bytes
                if not (exc.code == "replayed_update" and "same bytes" in exc.message):
                    raise
            answered.append(update.round)
            log.info("client %d (device %d) answered round %d", self.client_id, self.device_id, update.round)
        self.rounds_done += answered
        return answered

    def serve(self, stop: threading.Event, *, duration_s: float = 3600.0, wait_s: float = 1.0) -> None:
        """Answer plans until ``stop`` is set or ``duration_s`` has passed."""
        end = time.monotonic() + duration_s
        while not stop.is_set() and time.monotonic() < end:
            self.answer(wait_s)
