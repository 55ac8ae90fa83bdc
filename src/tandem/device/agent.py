"""The device agent: enroll, pull and verify models, infer with ONNX Runtime, ask the cloud, train, submit.

Trust: a model artifact is loaded only after its SHA-256 and its Ed25519 signature verify against the
server's public key, over the context the agent itself asked for (model, format, base, device), and
only if its version is newer than the one held (no downgrade). Pin ``public_key`` when provisioning a
device; without it the agent trusts the key returned at enrollment (trust on first use).

Collaborative inference: the small model runs locally (ONNX Runtime); a routing request policy
(:mod:`tandem.routing`, through :class:`~tandem.routing.agent.AgentPolicy`) picks the rows to send to the
cloud's large model; the cloud's answers replace the local ones for those rows, and each decision can be
logged to the server for the routing direction to learn from.

Federated rounds: :class:`~tandem.device.trainer.DeviceTrainer` over
:class:`~tandem.transport.http.HttpTransport` — the same code as in simulation. :meth:`DeviceAgent.checkin`
renews the device's lease (only live devices are selected) and tells it the round state.

Restarts: with ``state_dir``, :meth:`DeviceAgent.start` keeps the identity (device id, token, pinned server
key) and the verified model it holds in :class:`~tandem.device.state.StateFile`, and a restarted agent resumes
as the same device. Each event is one line on the ``tandem.device.events`` logger (:func:`~tandem.device.state.emit`).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import torch

from tandem.core.envelope import decode_state, encode_state
from tandem.core.errors import ConfigError, PayloadError
from tandem.device.events import emit, send_update
from tandem.device.modelspec import OnnxModel, to_onnx
from tandem.device.state import Identity, StateFile
from tandem.device.trainer import DeviceData, DeviceTrainer
from tandem.federated.wire import PLAN_KIND
from tandem.models.mlp import build_model
from tandem.routing.agent import AgentPolicy, as_agent_policy
from tandem.routing.policy import RequestPolicy
from tandem.transport.http import HttpTransport
from tandem.transport.httpclient import ApiClient, HttpError
from tandem.transport.signing import SignatureError, verify_artifact

log = logging.getLogger(__name__)


@dataclass
class Prediction:
    """Collaborative inference of a batch: final labels, which rows asked the cloud, and both answers."""

    labels: np.ndarray
    requested: np.ndarray
    small_labels: np.ndarray
    confidence: np.ndarray


class DeviceAgent:
    """One device talking to a tandem server.

    Parameters
    ----------
    server_url:
        The server (``http://127.0.0.1:8000``).
    model_id:
        The small model this device runs.
    data:
        Local training data (``DeviceData``; its client id is replaced by the enrolled device id).
    token:
        An existing device token; otherwise :meth:`enroll` with ``enroll_key`` gets one.
    public_key:
        The server's pinned Ed25519 key (base64); ``None``: trust the key sent at enrollment.
    policy:
        A routing request policy (:func:`tandem.routing.get_policy`) or an
        :class:`~tandem.routing.agent.AgentPolicy` (with a rate cap); default: ``confidence``, asking the cloud
        when ``1 - top1 >= 0.2`` (:data:`tandem.routing.agent.AGENT_UNCERTAINTY`).
    model_format:
        Delivery format of the first download (``full``, ``fp16``, ``int8``); later versions come as
        ``delta`` when ``use_delta``.
    state_dir:
        Keep this agent's identity and held model in ``state_dir/<name>.json`` (:meth:`start` resumes from it).
    client:
        An ``httpx.Client`` to reuse (tests pass FastAPI's ``TestClient``); ``client_kwargs`` go to
        :class:`~tandem.transport.httpclient.ApiClient` (retries, backoff).
    """

    def __init__(
        self,
        server_url: str = "http://127.0.0.1:8000",
        *,
        model_id: str = "small",
        data: DeviceData | None = None,
        token: str | None = None,
        enroll_key: str | None = None,
        name: str = "device",
        public_key: str | None = None,
        policy: RequestPolicy | AgentPolicy | None = None,
        model_format: str = "full",
        use_delta: bool = True,
        seed: int = 0,
        log_feedback: bool = True,
        state_dir: str | os.PathLike[str] | None = None,
        client: httpx.Client | None = None,
        **client_kwargs: Any,
    ) -> None:
        self.api = ApiClient(server_url, token, client=client, **client_kwargs)
        self.server_url, self.client, self.client_kwargs = server_url, client, client_kwargs
        self.model_id, self.data, self.enroll_key, self.name = model_id, data, enroll_key, name
        self.public_key, self.policy = public_key, as_agent_policy(policy)
        self.model_format, self.use_delta, self.seed, self.log_feedback = model_format, use_delta, seed, log_feedback
        self.device_id: int | None = None if token is None else int(token.split(".")[1])
        self.version: int | None = None
        self.spec: dict[str, Any] | None = None
        self.state: dict[str, torch.Tensor] | None = None
        self.onnx: OnnxModel | None = None
        self.rounds_done: list[int] = []
        self.bytes_down = 0
        self.counts: Counter[str] = Counter()
        self.state_file = None if state_dir is None else StateFile(state_dir, name)

    @property
    def who(self) -> str:
        """How event lines name this agent."""
        return self.name if self.device_id is None else f"{self.name} #{self.device_id}"

    # -- enrollment and model delivery ------------------------------------------------------------
    def start(self, profile: dict[str, Any] | None = None) -> str:
        """Resume the identity kept in ``state_dir`` (checking in with it), else enroll; returns
        ``"resumed"`` or ``"enrolled"``."""
        identity = None if self.state_file is None else self.state_file.load()
        if identity is None:
            self.enroll(profile)
            return "enrolled"
        self._resume(identity)
        return "resumed"

    def _resume(self, identity: Identity) -> None:
        assert self.state_file is not None
        where = f"state file {self.state_file.path}"
        if identity.server.rstrip("/") != self.server_url.rstrip("/") and self.client is None:
            # the same server may move (address, port); a different one refuses the token at the check-in below
            log.warning("%s: enrolled at %s, now talking to %s", where, identity.server, self.server_url)
        if identity.model_id not in (None, self.model_id):
            raise ConfigError(f"{where} holds model {identity.model_id!r}, not {self.model_id!r}")
        if self.public_key is not None and identity.public_key not in (None, self.public_key):
            raise ConfigError(f"{where} pinned another server key than the --public-key given")
        self.api.token, self.device_id = identity.token, identity.device_id
        self.public_key = self.public_key or identity.public_key
        state = self.state_file.load_model(identity)
        if state is not None and identity.spec is not None:
            self.state, self.spec, self.version = state, identity.spec, identity.version
            self.onnx = OnnxModel(to_onnx(build_model(self.spec), state))
        try:
            self.checkin()
        except HttpError as exc:
            if exc.status in (401, 403):
                raise ConfigError(
                    f"{where}: the server refuses device {self.device_id}'s credential ({exc.message}); "
                    "remove the file to enroll a new device"
                ) from None
            raise
        held = f", holds {self.model_id} v{self.version}" if self.version is not None else ""
        self._save()  # the server's address as it is now
        self.counts["resumed"] += 1
        emit(self.who, "resumed", f"no re-enrolment{held}")

    def enroll(self, profile: dict[str, Any] | None = None) -> int:
        """Enroll with ``enroll_key``; keeps the token (and the server key, unless one is pinned)."""
        body = self.api.request(
            "POST", "/v1/devices", token=self.enroll_key, json={"name": self.name, "profile": profile or {}}
        ).json()
        self.api.token, self.device_id = body["token"], int(body["device_id"])
        if self.public_key is None:
            self.public_key = body["public_key"]
        self._save()
        self.counts["enrolled"] += 1
        emit(self.who, "enrolled", f"server key {body.get('key_id', '?')} pinned")
        return self.device_id

    def _save(self) -> None:
        """Keep the identity (and the held model) in the state file, if there is one."""
        if self.state_file is None or self.device_id is None or self.api.token is None:
            return
        identity = Identity(
            self.server_url, self.name, self.device_id, self.api.token, self.public_key,
            self.model_id, self.version, self.spec,
        )
        self.state_file.save(identity, self.state)

    def checkin(self) -> dict[str, Any]:
        """Renew this device's lease; returns the round state (open round, selected, last closed round)."""
        return dict(self.api.request("POST", "/v1/checkin").json())

    def sync_model(self) -> bool:
        """Fetch the latest version if newer than the one held; True if a new model was loaded."""
        fmt = "delta" if self.use_delta and self.version is not None else self.model_format
        headers = {} if self.version is None else {"X-Tandem-Have-Version": str(self.version)}
        response = self.api.request(
            "GET", f"/v1/models/{self.model_id}/artifact", params={"format": fmt}, headers=headers, ok=(200, 304)
        )
        if response.status_code == 304:
            return False
        state, version = self._verified_state(response, fmt)
        if self.spec is None:
            self.spec = self.api.request("GET", f"/v1/models/{self.model_id}").json()["spec"]
        self.state, self.version = state, version
        self.onnx = OnnxModel(to_onnx(build_model(self.spec), state))
        self._save()
        self.counts["models"] += 1
        size = f"{len(response.content):,} bytes"
        emit(self.who, "model pulled and verified", f"{self.model_id} v{version} ({fmt}, {size})")
        return True

    def _verified_state(self, response: httpx.Response, fmt: str) -> tuple[dict[str, torch.Tensor], int]:
        head = response.headers
        try:
            version = int(head["x-tandem-version"])
        except (KeyError, ValueError):
            raise SignatureError("artifact response has no valid X-Tandem-Version") from None
        if self.version is not None and version <= self.version:
            raise SignatureError(f"server offered version {version}, not newer than the held {self.version}")
        base = self.version if fmt == "delta" else None
        context = {
            "kind": "model",
            "model_id": self.model_id,
            "version": version,
            "format": fmt,
            "base": base,
            "device": None,
        }
        if self.public_key is None:
            raise SignatureError("no server key to verify the artifact with: enroll first or pin public_key")
        verify_artifact(
            self.public_key,
            response.content,
            signature=head.get("x-tandem-signature", ""),
            sha256=head.get("x-tandem-sha256", ""),
            context=context,
        )
        self.bytes_down += len(response.content)
        state, _ = decode_state(response.content)
        if fmt == "delta":
            held = self.state
            if held is None:
                raise SignatureError("server sent a delta but this device holds no model to apply it to")
            state = {k: held[k] + v for k, v in state.items()}
        return {k: v.to(torch.float32) for k, v in state.items()}, version

    # -- collaborative inference ------------------------------------------------------------------
    def predict(self, x: np.ndarray) -> Prediction:
        """Local predictions, with the rows the policy picks answered by the cloud's large model."""
        if self.onnx is None:
            raise PayloadError("no model loaded yet: call sync_model() first")
        probs = self.onnx.probabilities(x)
        small = probs.argmax(1)
        ask = np.asarray(self.policy.decide(probs), dtype=bool)
        labels = small.copy()
        if ask.any():
            payload = encode_state({"x": torch.from_numpy(np.ascontiguousarray(x[ask], dtype=np.float32))})
            response = self.api.request(
                "POST", "/v1/infer", content=payload, headers={"Content-Type": "application/octet-stream"}
            )
            logits = decode_state(response.content)[0]["logits"]
            labels[ask] = logits.argmax(1).numpy()
        self.counts["inference_batches"] += 1
        emit(self.who, "inference batch", f"{len(x)} rows, {int(ask.sum())} asked the cloud")
        return Prediction(labels, ask, small, probs.max(1))

    def report(self, prediction: Prediction, y: np.ndarray | None = None) -> int:
        """Log the policy's decisions (with labels, if known) to the server; returns the events logged."""
        events = []
        for i in range(len(prediction.labels)):
            event = {
                "requested": bool(prediction.requested[i]),
                "confidence": float(prediction.confidence[i]),
                "small_pred": int(prediction.small_labels[i]),
                "cloud_pred": int(prediction.labels[i]) if prediction.requested[i] else None,
                "label": None if y is None else int(y[i]),
            }
            events.append(event)
        for start in range(0, len(events), 1000):
            self.api.request("POST", "/v1/feedback", json={"events": events[start : start + 1000]})
        return len(events)

    # -- federated rounds -------------------------------------------------------------------------
    def _identity(self) -> tuple[int, str]:
        if self.device_id is None or self.api.token is None:
            raise ConfigError(f"{self.name}: enroll (or start) first")
        return self.device_id, self.api.token

    def transport(self) -> HttpTransport:
        """A device-side :class:`HttpTransport` with this device's credential."""
        device_id, token = self._identity()
        return HttpTransport(
            self.server_url,
            device_tokens={device_id: token},
            client=self.api.client,
            **self.client_kwargs,
        )

    def train_round(self, wait_s: float = 0.0) -> int | None:
        """Answer the plan waiting for this device, if any; returns the round answered."""
        if self.data is None or self.spec is None:
            raise PayloadError("train_round needs local data and a synced model spec")
        device_id, _ = self._identity()
        transport = self.transport()
        transport.wait_s = wait_s
        messages = transport.receive_on_device(device_id, PLAN_KIND)
        if not messages:
            return None
        data = DeviceData(device_id, self.data.X, self.data.y)
        trainer = DeviceTrainer(build_model(self.spec), data, seed=self.seed, public_key=self.public_key)
        answered = None
        for message in messages:
            plan = trainer.open_plan(message)
            self.counts["rounds_joined"] += 1
            emit(self.who, "round joined", f"round {plan.round}")
            update = trainer.update_for(plan)
            if send_update(transport, device_id, update, self.who, self.counts):
                answered = update.round
                self.rounds_done.append(update.round)
        return answered

