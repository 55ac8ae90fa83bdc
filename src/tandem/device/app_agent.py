"""A device agent that serves one client of a user's :class:`~tandem.federated.app.ClientApp`.

``tandem device --app module:object --clients 0,1`` runs one :class:`AppAgent` per client: it enrolls
(named ``client-<id>``, its profile says which client it holds), then answers every round plan that
reaches its mailbox with :class:`~tandem.device.trainer.DeviceTrainer`: the one client step over the
client's own rows, under the plan's objective, exactly as the simulator trains that client. The trainer
lives as long as the agent, so per-client state (SCAFFOLD's control variate, FedPer's personal layers,
Ditto's personal model) persists across rounds, as it does in simulation (in memory: a restarted agent keeps
its identity, with ``state_dir``, but starts that per-client state afresh).
"""

from __future__ import annotations

import copy
import logging
import os
import threading
import time
from collections import Counter
from typing import Any

import httpx
import numpy as np

from tandem.core.errors import ConfigError
from tandem.device.events import emit, send_update
from tandem.device.state import Identity, StateFile
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
    state_dir:
        Keep this agent's identity in ``state_dir/client-<id>.json``; :meth:`start` resumes from it.
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
        state_dir: str | os.PathLike[str] | None = None,
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
        self.counts: Counter[str] = Counter()
        self.state_file = None if state_dir is None else StateFile(state_dir, client_name(self.client_id))

    @property
    def who(self) -> str:
        """How event lines name this agent."""
        name = client_name(self.client_id)
        return name if self.device_id is None else f"{name} #{self.device_id}"

    def start(self) -> str:
        """Resume the identity kept in ``state_dir`` (checking in with it), else enroll; builds the trainer.
        Returns ``"resumed"`` or ``"enrolled"``."""
        identity = None if self.state_file is None else self.state_file.load()
        if identity is None:
            self.enroll()
            return "enrolled"
        assert self.state_file is not None
        where = f"state file {self.state_file.path}"
        if identity.server.rstrip("/") != self.server_url.rstrip("/"):
            # the same server may move (address, port); a different one refuses the token at the check-in below
            log.warning("%s: enrolled at %s, now talking to %s", where, identity.server, self.server_url)
        if self.public_key is not None and identity.public_key not in (None, self.public_key):
            raise ConfigError(f"{where} pinned another server key than the --public-key given")
        self.api.token, self.device_id = identity.token, identity.device_id
        self.public_key = self.public_key or identity.public_key
        try:
            self.api.request("POST", "/v1/checkin")
        except HttpError as exc:
            if exc.status in (401, 403):
                raise ConfigError(
                    f"{where}: the server refuses device {self.device_id}'s credential ({exc.message}); "
                    "remove the file to enroll a new device"
                ) from None
            raise
        self._build_trainer()
        self.counts["resumed"] += 1
        emit(self.who, "resumed", "no re-enrolment")
        return "resumed"

    def enroll(self) -> int:
        """Enroll as ``client-<id>``; builds the trainer over this client's rows. Returns the device id."""
        body = self.api.request(
            "POST",
            "/v1/devices",
            token=self.enroll_key,
            json={"name": client_name(self.client_id), "profile": {"kind": "app", "client": self.client_id}},
        ).json()
        self.api.token, self.device_id = body["token"], int(body["device_id"])
        if self.state_file is not None:
            identity = Identity(self.server_url, client_name(self.client_id), self.device_id, body["token"],
                                self.public_key)
            self.state_file.save(identity)
        n = self._build_trainer()
        self.counts["enrolled"] += 1
        emit(self.who, "enrolled", f"client {self.client_id}, {n} examples")
        return self.device_id

    def _build_trainer(self) -> int:
        """The trainer over this client's rows; returns how many there are."""
        assert self.device_id is not None
        view = self.app.data.round_view(np.array([self.client_id]))
        rows = view.rows[0]
        held = self.app.data.local_eval_view(np.array([self.client_id]))
        eval_xy = (held.X[held.rows[0]], held.y[held.rows[0]]) if held is not None else (None, None)
        data = DeviceData(self.client_id, view.X[rows], view.y[rows], *eval_xy)
        self.trainer = DeviceTrainer(
            copy.deepcopy(self.app.model), data, device_id=self.device_id, loss_fn=self.app.loss_fn,
            seed=self.app.seed, codec=self.codec, public_key=self.public_key,
        )
        return len(rows)

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
            plan = self.trainer.open_plan(message)
            self.counts["rounds_joined"] += 1
            emit(self.who, "round joined", f"round {plan.round}")
            update = self.trainer.update_for(plan)
            if send_update(transport, self.device_id, update, self.who, self.counts):
                answered.append(update.round)
        self.rounds_done += answered
        return answered

    def serve(self, stop: threading.Event, *, duration_s: float = 3600.0, wait_s: float = 1.0) -> None:
        """Answer plans until ``stop`` is set or ``duration_s`` has passed."""
        end = time.monotonic() + duration_s
        while not stop.is_set() and time.monotonic() < end:
            self.answer(wait_s)
