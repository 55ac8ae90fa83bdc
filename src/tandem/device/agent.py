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
:class:`~tandem.transport.http.HttpTransport` — the same code as in simulation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import torch

from tandem.core.envelope import decode_state, encode_state
from tandem.core.errors import PayloadError
from tandem.device.modelspec import OnnxModel, to_onnx
from tandem.device.trainer import DeviceData, DeviceTrainer
from tandem.federated.wire import PLAN_KIND
from tandem.models.mlp import build_model
from tandem.routing.agent import AgentPolicy, as_agent_policy
from tandem.routing.policy import RequestPolicy
from tandem.transport.http import HttpTransport
from tandem.transport.httpclient import ApiClient, HttpError
from tandem.transport.signing import SignatureError, verify_artifact


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

    # -- enrollment and model delivery ------------------------------------------------------------
    def enroll(self, profile: dict[str, Any] | None = None) -> int:
        """Enroll with ``enroll_key``; keeps the token (and the server key, unless one is pinned)."""
        body = self.api.request(
            "POST", "/v1/devices", token=self.enroll_key, json={"name": self.name, "profile": profile or {}}
        ).json()
        self.api.token, self.device_id = body["token"], int(body["device_id"])
        if self.public_key is None:
            self.public_key = body["public_key"]
        return self.device_id

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
            state = {k: self.state[k] + v for k, v in state.items()}
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
    def transport(self) -> HttpTransport:
        """A device-side :class:`HttpTransport` with this device's credential."""
        return HttpTransport(
            self.server_url,
            device_tokens={self.device_id: self.api.token},
            client=self.api.client,
            **self.client_kwargs,
        )

    def train_round(self, wait_s: float = 0.0) -> int | None:
        """Answer the plan waiting for this device, if any; returns the round answered."""
        if self.data is None or self.spec is None:
            raise PayloadError("train_round needs local data and a synced model spec")
        transport = self.transport()
        transport.wait_s = wait_s
        messages = transport.receive_on_device(self.device_id, PLAN_KIND)
        if not messages:
            return None
        data = DeviceData(self.device_id, self.data.X, self.data.y)
        trainer = DeviceTrainer(build_model(self.spec), data, seed=self.seed, public_key=self.public_key)
        answered = None
        for message in messages:
            update = trainer.update_for(trainer.open_plan(message))
            try:
                transport.send_to_cloud(self.device_id, *update.to_wire())
            except HttpError as exc:  # a retry after a lost answer: the server already has these bytes
                if not (exc.code == "replayed_update" and "same bytes" in exc.message):
                    raise
            answered = update.round
            self.rounds_done.append(update.round)
        return answered
