"""Typed messages that cross the wire between cloud and devices.

Frozen dataclasses validated on construction, so a malformed message fails where it is made,
not three hops later. Payloads are always ``bytes`` (usually an envelope from
:func:`tandem.core.envelope.encode_state`), so byte accounting is ``len(payload)``. ``meta`` and
``metrics`` must be JSON-able: the HTTP transport carries them as JSON, and the in-process one
must accept exactly what the HTTP one can carry. Each message maps to a transport ``kind`` plus
a small ``meta`` dict with :meth:`to_wire` and back with ``from_wire``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from tandem.core.errors import PayloadError

MAX_META_BYTES = 4096
"""Largest JSON ``meta``/``metrics``: they ride uncounted beside the payload, so they stay small."""


def freeze_json(obj: Mapping[str, Any] | None, what: str = "meta") -> Mapping[str, Any]:
    """A read-only copy of a JSON-able mapping of at most MAX_META_BYTES."""
    obj = {} if obj is None else obj
    if not isinstance(obj, Mapping) or not all(isinstance(k, str) for k in obj):
        raise PayloadError(f"{what} must be a mapping with string keys")
    try:
        size = len(json.dumps(dict(obj), allow_nan=False, separators=(",", ":")))
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"{what} is not JSON-serializable: {exc}") from None
    if size > MAX_META_BYTES:
        raise PayloadError(f"{what} is {size} bytes of JSON, over {MAX_META_BYTES}; put bulk data in the payload")
    return MappingProxyType(dict(obj))


def _payload(value: Any, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise PayloadError(f"{what}.payload must be bytes, got {type(value).__name__}")
    return bytes(value)


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PayloadError(f"{what} must be a non-negative int, got {value!r}")
    return int(value)


def _ident(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 256:
        raise PayloadError(f"{what} must be a non-empty string of at most 256 characters, got {value!r}")
    return value


@dataclass(frozen=True)
class ModelDelivery:
    """Cloud -> device: version ``version`` of model ``model_id`` (payload: an encoded state)."""

    KIND: ClassVar[str] = "model"
    model_id: str
    version: int
    payload: bytes = field(repr=False)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _ident(self.model_id, "ModelDelivery.model_id")
        _count(self.version, "ModelDelivery.version")
        object.__setattr__(self, "payload", _payload(self.payload, "ModelDelivery"))
        object.__setattr__(self, "meta", freeze_json(self.meta, "ModelDelivery.meta"))

    @property
    def n_bytes(self) -> int:
        return len(self.payload)

    def to_wire(self) -> tuple[str, bytes, dict[str, Any]]:
        """``(kind, payload, meta)`` for a transport."""
        return self.KIND, self.payload, {"model_id": self.model_id, "version": self.version, "meta": dict(self.meta)}

    @classmethod
    def from_wire(cls, payload: bytes, meta: Mapping[str, Any]) -> ModelDelivery:
        try:
            return cls(meta["model_id"], meta["version"], payload, meta.get("meta", {}))
        except KeyError as exc:
            raise PayloadError(f"model delivery meta lacks {exc}") from None


@dataclass(frozen=True)
class ClientUpdate:
    """Device -> cloud: what ``device_id`` learned in round ``round`` from ``n_examples`` examples."""

    KIND: ClassVar[str] = "update"
    device_id: int
    round: int
    n_examples: int
    payload: bytes = field(repr=False)
    metrics: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _count(self.device_id, "ClientUpdate.device_id")
        _count(self.round, "ClientUpdate.round")
        _count(self.n_examples, "ClientUpdate.n_examples")
        object.__setattr__(self, "payload", _payload(self.payload, "ClientUpdate"))
        for key, value in dict(self.metrics).items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise PayloadError(f"ClientUpdate.metrics[{key!r}] must be a finite number, got {value!r}")
        object.__setattr__(self, "metrics", freeze_json(self.metrics, "ClientUpdate.metrics"))

    @property
    def n_bytes(self) -> int:
        return len(self.payload)

    def to_wire(self) -> tuple[str, bytes, dict[str, Any]]:
        meta = {"round": self.round, "n_examples": self.n_examples, "metrics": dict(self.metrics)}
        return self.KIND, self.payload, meta

    @classmethod
    def from_wire(cls, device_id: int, payload: bytes, meta: Mapping[str, Any]) -> ClientUpdate:
        try:
            return cls(device_id, meta["round"], meta["n_examples"], payload, meta.get("metrics", {}))
        except KeyError as exc:
            raise PayloadError(f"client update meta from device {device_id} lacks {exc}") from None


@dataclass(frozen=True)
class InferenceRequest:
    """Device -> cloud: ask the large model (payload: encoded inputs, e.g. a feature state dict)."""

    KIND: ClassVar[str] = "infer"
    device_id: int
    request_id: str
    payload: bytes = field(repr=False)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _count(self.device_id, "InferenceRequest.device_id")
        _ident(self.request_id, "InferenceRequest.request_id")
        object.__setattr__(self, "payload", _payload(self.payload, "InferenceRequest"))
        object.__setattr__(self, "meta", freeze_json(self.meta, "InferenceRequest.meta"))

    def to_wire(self) -> tuple[str, bytes, dict[str, Any]]:
        return self.KIND, self.payload, {"request_id": self.request_id, "meta": dict(self.meta)}

    @classmethod
    def from_wire(cls, device_id: int, payload: bytes, meta: Mapping[str, Any]) -> InferenceRequest:
        try:
            return cls(device_id, meta["request_id"], payload, meta.get("meta", {}))
        except KeyError as exc:
            raise PayloadError(f"inference request meta from device {device_id} lacks {exc}") from None


@dataclass(frozen=True)
class InferenceResponse:
    """Cloud -> device: the answer to ``request_id`` (payload: encoded outputs, e.g. candidates)."""

    KIND: ClassVar[str] = "infer_result"
    request_id: str
    payload: bytes = field(repr=False)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _ident(self.request_id, "InferenceResponse.request_id")
        object.__setattr__(self, "payload", _payload(self.payload, "InferenceResponse"))
        object.__setattr__(self, "meta", freeze_json(self.meta, "InferenceResponse.meta"))

    def to_wire(self) -> tuple[str, bytes, dict[str, Any]]:
        return self.KIND, self.payload, {"request_id": self.request_id, "meta": dict(self.meta)}

    @classmethod
    def from_wire(cls, payload: bytes, meta: Mapping[str, Any]) -> InferenceResponse:
        try:
            return cls(meta["request_id"], payload, meta.get("meta", {}))
        except KeyError as exc:
            raise PayloadError(f"inference response meta lacks {exc}") from None
