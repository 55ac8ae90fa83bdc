"""The model registry: versions of each model, and the signed artifacts devices download.

A version is the model's architecture spec (:mod:`tandem.models.mlp`) plus its full fp32 state.
Devices download it in one of :data:`FORMATS`, each made with the wire codecs of :mod:`tandem.core`:

* ``full`` fp32, ``fp16``, ``int8`` (affine per tensor): the state, lossless or quantized;
* ``delta``: ``state(version) - state(base)`` in fp32 + zstd, for a device that holds ``base``;
* ``mask``: the binary mask (bitmask codec, 1 bit per weight) registered for this device, or the
  version's default mask: DIET-style per-device customization of the weights it already has.

Each artifact is encoded once, signed with the server's Ed25519 key over its context (model, version,
format, base, device) and cached in the database; its SHA-256 is its ETag.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from sqlalchemy import Connection, func, insert, select

from tandem.core.codecs.bitmask import first_nonbinary
from tandem.core.envelope import decode_state, encode_state
from tandem.core.errors import ConfigError, PayloadError
from tandem.models.mlp import build_model
from tandem.server import db
from tandem.server.store import Store
from tandem.transport.signing import ArtifactSigner, SignedArtifact, sha256_hex

FORMATS = ("full", "fp16", "int8", "delta", "mask")
_CODECS = {"full": ("fp32", None), "fp16": ("fp16", None), "int8": ("int8", None), "delta": ("fp32", "zstd")}


class NotFoundError(ConfigError):
    """A model, version, mask or round that does not exist (HTTP 404)."""


@dataclass(frozen=True)
class VersionInfo:
    """What the registry knows about one version (the state itself is fetched with :meth:`ModelRegistry.state`)."""

    model_id: str
    version: int
    spec: dict[str, Any]
    sha256: str
    n_bytes: int
    meta: dict[str, Any]
    created_at: float


def artifact_context(model_id: str, version: int, fmt: str, base: int | None, device_id: int | None) -> dict[str, Any]:
    """The signed context of a model artifact (devices rebuild it from what they asked for)."""
    return {
        "kind": "model",
        "model_id": model_id,
        "version": int(version),
        "format": fmt,
        "base": None if base is None else int(base),
        "device": None if device_id is None else int(device_id),
    }


def check_state_for_spec(spec: Mapping[str, Any], state: Mapping[str, torch.Tensor], what: str) -> None:
    """PayloadError unless ``state`` has exactly the spec's parameters, shapes and float dtypes."""
    reference = build_model(spec).state_dict()
    if set(state) != set(reference):
        missing, extra = sorted(set(reference) - set(state)), sorted(set(state) - set(reference))
        raise PayloadError(f"{what}: keys do not match the model spec (missing {missing[:5]}, unexpected {extra[:5]})")
    for key, ref in reference.items():
        if tuple(state[key].shape) != tuple(ref.shape):
            raise PayloadError(
                f"{what}: {key!r} has shape {tuple(state[key].shape)}, the spec needs {tuple(ref.shape)}"
            )
        if state[key].dtype != ref.dtype:
            raise PayloadError(f"{what}: {key!r} is {state[key].dtype}, the spec needs {ref.dtype}")


class ModelRegistry:
    """Versions and artifacts in ``store``, signed by ``signer``; ``cache_size`` decoded states stay in memory."""

    def __init__(self, store: Store, signer: ArtifactSigner, *, cache_size: int = 16) -> None:
        self.store, self.signer, self.cache_size = store, signer, int(cache_size)
        self._states: OrderedDict[tuple[str, int], dict[str, torch.Tensor]] = OrderedDict()
        self._artifacts: OrderedDict[tuple[str, int, str, int | None, int | None], SignedArtifact] = OrderedDict()
        self._lock = threading.Lock()

    # -- versions ---------------------------------------------------------------------------------
    def register(
        self,
        model_id: str,
        state: Mapping[str, torch.Tensor],
        spec: Mapping[str, Any],
        meta: Mapping[str, Any] | None = None,
    ) -> VersionInfo:
        """Store ``state`` as the next version of ``model_id``; PayloadError/ConfigError if it does not fit ``spec``."""
        with self.store.write() as conn:
            version = self.insert_version(conn, model_id, state, spec, meta)
        return self.info(model_id, version)

    def insert_version(
        self,
        conn: Connection,
        model_id: str,
        state: Mapping[str, torch.Tensor],
        spec: Mapping[str, Any],
        meta: Mapping[str, Any] | None = None,
    ) -> int:
        """:meth:`register` inside the caller's transaction (so a round can publish and close atomically)."""
        spec = dict(spec)
        check_state_for_spec(spec, state, f"model {model_id!r}")
        for key, value in state.items():
            if not bool(torch.isfinite(value).all()):
                raise PayloadError(f"model {model_id!r}: {key!r} has NaN/Inf values")
        mv = db.model_versions.c
        last = conn.execute(
            select(mv.version, mv.spec).where(mv.model_id == model_id).order_by(mv.version.desc()).limit(1)
        ).first()
        if last is not None and dict(last.spec) != spec:
            raise ConfigError(
                f"model {model_id!r}: spec {spec} differs from version {last.version}'s {dict(last.spec)}"
            )
        version = 1 if last is None else int(last.version) + 1
        payload = encode_state({k: v.detach().cpu() for k, v in state.items()}, "fp32", meta={"model_id": model_id})
        conn.execute(
            insert(db.model_versions).values(
                model_id=model_id,
                version=version,
                spec=spec,
                payload=payload,
                sha256=sha256_hex(payload),
                meta=dict(meta or {}),
                created_at=time.time(),
            )
        )
        return version

    def latest(self, model_id: str) -> VersionInfo | None:
        mv = db.model_versions.c
        query = select(mv.model_id, mv.version, mv.spec, mv.sha256, func.length(mv.payload), mv.meta, mv.created_at)
        with self.store.read() as conn:
            row = conn.execute(query.where(mv.model_id == model_id).order_by(mv.version.desc()).limit(1)).first()
        return None if row is None else VersionInfo(*row[:4], int(row[4]), dict(row[5]), row[6])

    def info(self, model_id: str, version: int | None = None) -> VersionInfo:
        """The latest version, or ``version``; NotFoundError if absent."""
        if version is None:
            found = self.latest(model_id)
        else:
            mv = db.model_versions.c
            query = select(mv.model_id, mv.version, mv.spec, mv.sha256, func.length(mv.payload), mv.meta, mv.created_at)
            with self.store.read() as conn:
                row = conn.execute(query.where(mv.model_id == model_id, mv.version == version)).first()
            found = None if row is None else VersionInfo(*row[:4], int(row[4]), dict(row[5]), row[6])
        if found is None:
            raise NotFoundError(
                f"model {model_id!r} has no version {'(none registered)' if version is None else version}"
            )
        return found

    def models(self) -> list[VersionInfo]:
        """The latest version of every model."""
        with self.store.read() as conn:
            ids = conn.execute(select(db.model_versions.c.model_id).distinct()).scalars().all()
        return [self.info(m) for m in sorted(ids)]

    def state(self, model_id: str, version: int) -> dict[str, torch.Tensor]:
        """The decoded fp32 state of a version (cached; callers must not modify it)."""
        key = (model_id, int(version))
        with self._lock:
            if key in self._states:
                self._states.move_to_end(key)
                return self._states[key]
        with self.store.read() as conn:
            payload = conn.execute(
                select(db.model_versions.c.payload).where(
                    db.model_versions.c.model_id == model_id, db.model_versions.c.version == version
                )
            ).scalar()
        if payload is None:
            raise NotFoundError(f"model {model_id!r} has no version {version}")
        state = decode_state(payload)[0]
        with self._lock:
            self._states[key] = state
            while len(self._states) > self.cache_size:
                self._states.popitem(last=False)
        return state

    # -- masks and artifacts ----------------------------------------------------------------------
    def set_mask(
        self, model_id: str, version: int, mask: Mapping[str, torch.Tensor], device_id: int | None = None
    ) -> None:
        """Register a binary mask (subset of the version's tensors, same shapes) for a device or as default."""
        state = self.state(model_id, version)
        for key, value in mask.items():
            if key not in state or tuple(value.shape) != tuple(state[key].shape):
                raise PayloadError(f"mask tensor {key!r} does not match a tensor of {model_id!r} v{version}")
            if first_nonbinary(value) is not None:
                raise PayloadError(f"mask tensor {key!r} has a value that is neither 0 nor 1")
        payload = encode_state({k: v.to(torch.bool) for k, v in mask.items()}, "bitmask")
        dev = -1 if device_id is None else int(device_id)
        m = db.masks.c
        with self.store.write() as conn:
            conn.execute(db.masks.delete().where(m.model_id == model_id, m.version == version, m.device_id == dev))
            conn.execute(insert(db.masks).values(model_id=model_id, version=version, device_id=dev, payload=payload))
            conn.execute(
                db.artifacts.delete().where(
                    db.artifacts.c.model_id == model_id,
                    db.artifacts.c.version == version,
                    db.artifacts.c.format == "mask",
                )
            )
        with self._lock:
            self._artifacts.clear()

    def _mask_payload(self, model_id: str, version: int, device_id: int | None) -> tuple[bytes, int]:
        m = db.masks.c
        wanted = [-1] if device_id is None else [int(device_id), -1]
        with self.store.read() as conn:
            rows = dict(
                conn.execute(
                    select(m.device_id, m.payload).where(
                        m.model_id == model_id, m.version == version, m.device_id.in_(wanted)
                    )
                ).all()
            )
        for dev in wanted:
            if dev in rows:
                return rows[dev], dev
        raise NotFoundError(f"model {model_id!r} v{version} has no mask for device {device_id} and no default mask")

    def artifact(
        self, model_id: str, version: int, fmt: str, *, base: int | None = None, device_id: int | None = None
    ) -> SignedArtifact:
        """The signed artifact of ``version`` in format ``fmt`` (encoded and cached on first request)."""
        if fmt not in FORMATS:
            raise ConfigError(f"unknown format {fmt!r}; one of {FORMATS}")
        if (fmt == "delta") != (base is not None):
            raise ConfigError("format 'delta' needs base=<the version the device holds>, and only it takes a base")
        self.info(model_id, version)
        owner = None
        if fmt == "mask":
            mask_payload, dev = self._mask_payload(model_id, version, device_id)
            owner = None if dev == -1 else dev
        key = (model_id, int(version), fmt, base, owner)
        with self._lock:
            if key in self._artifacts:
                return self._artifacts[key]
        a = db.artifacts.c
        cond = (
            a.model_id == model_id,
            a.version == version,
            a.format == fmt,
            a.base == (-1 if base is None else base),
            a.device_id == (-1 if owner is None else owner),
        )
        context = artifact_context(model_id, version, fmt, base, owner)
        with self.store.read() as conn:
            row = conn.execute(select(a.payload, a.sha256, a.signature).where(*cond)).first()
        if row is not None:
            signed = SignedArtifact(row.payload, row.sha256, context, row.signature, self.signer.key_id)
        else:
            payload = mask_payload if fmt == "mask" else self._encode(model_id, version, fmt, base)
            signed = self.signer.sign(payload, context)
            with self.store.write() as conn:
                if conn.execute(select(a.id).where(*cond)).first() is None:
                    conn.execute(
                        insert(db.artifacts).values(
                            model_id=model_id,
                            version=version,
                            format=fmt,
                            base=-1 if base is None else base,
                            device_id=-1 if owner is None else owner,
                            payload=signed.payload,
                            sha256=signed.sha256,
                            signature=signed.signature,
                        )
                    )
        with self._lock:
            self._artifacts[key] = signed
            while len(self._artifacts) > 4 * self.cache_size:
                self._artifacts.popitem(last=False)
        return signed

    def _encode(self, model_id: str, version: int, fmt: str, base: int | None) -> bytes:
        state = self.state(model_id, version)
        codec, compress = _CODECS[fmt]
        meta = {"model_id": model_id, "version": version, "format": fmt}
        if fmt == "delta":
            assert base is not None  # artifact() rejects a delta without a base
            self.info(model_id, base)
            base_state = self.state(model_id, base)
            state = {k: v - base_state[k] for k, v in state.items()}
            meta["base"] = base
        return encode_state(state, codec, compress, meta)
