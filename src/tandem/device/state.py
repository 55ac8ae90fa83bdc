"""What a device agent keeps across restarts, and the one line it prints per event.

:class:`StateFile` keeps one agent's identity in ``DIR/<name>.json``: the server it enrolled with, its device
id and token, the server's signing key it pinned, and the model version it holds (whose verified weights are
in ``DIR/<name>.model``, an fp32 envelope checked by SHA-256 when read back). A restarted agent reads it and
goes on as the same device: no second enrolment, no downgrade, a delta from the version it holds. Files are
written whole (a temporary file, fsync, rename), so a crash leaves the old state or the new one, never half of
one; both are readable by their owner only (the identity holds the device's credential).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from tandem.core.envelope import decode_state, encode_state
from tandem.core.errors import ConfigError, PayloadError

log = logging.getLogger(__name__)

STATE_FORMAT = 1
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
_TOKEN = re.compile(r"^t1\.[0-9]{1,12}\.\S+$")


@dataclass
class Identity:
    """An enrolled agent's identity and the model version it holds."""

    server: str
    name: str
    device_id: int
    token: str = field(repr=False)
    public_key: str | None = None
    model_id: str | None = None
    version: int | None = None
    spec: dict[str, Any] | None = None
    model_sha256: str | None = None


_FIELDS: dict[str, tuple[type, ...]] = {
    "server": (str,),
    "name": (str,),
    "device_id": (int,),
    "token": (str,),
    "public_key": (str, type(None)),
    "model_id": (str, type(None)),
    "version": (int, type(None)),
    "spec": (dict, type(None)),
    "model_sha256": (str, type(None)),
}


class StateFile:
    """The state of the agent named ``name`` under ``directory`` (created if missing)."""

    def __init__(self, directory: str | os.PathLike[str], name: str) -> None:
        if not _NAME.match(name):
            raise ConfigError(f"agent name {name!r} cannot name a state file (letters, digits, '_.-' only)")
        self.directory = Path(directory)
        self.path = self.directory / f"{name}.json"
        self.model_path = self.directory / f"{name}.model"

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> Identity | None:
        """The stored identity, ``None`` if there is none; :class:`ConfigError` naming the file and field if the
        file is not a valid state file."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigError(f"state file {self.path}: cannot be read ({exc.strerror})") from None
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"state file {self.path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"state file {self.path}: expected a JSON object")
        if raw.get("format") != STATE_FORMAT:
            raise ConfigError(f"state file {self.path}: format {raw.get('format')!r} is not {STATE_FORMAT}")
        values: dict[str, Any] = {}
        for name, types in _FIELDS.items():
            value = raw.get(name)
            if not isinstance(value, types) or isinstance(value, bool):
                allowed = " or ".join("null" if t is type(None) else t.__name__ for t in types)
                raise ConfigError(f"state file {self.path}: field {name!r} must be {allowed}, got {value!r}")
            values[name] = value
        if not _TOKEN.match(values["token"]) or values["token"].split(".")[1] != str(values["device_id"]):
            raise ConfigError(f"state file {self.path}: field 'token' is not device {values['device_id']}'s token")
        return Identity(**values)

    def save(self, identity: Identity, model: dict[str, torch.Tensor] | None = None) -> None:
        """Store ``identity`` (and the verified weights of the version it holds, when given), each file whole."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if model is not None:
            payload = encode_state(model, "fp32")
            _write_whole(self.model_path, payload)
            identity.model_sha256 = hashlib.sha256(payload).hexdigest()
        body = {"format": STATE_FORMAT, **asdict(identity)}
        _write_whole(self.path, json.dumps(body, indent=1).encode())

    def load_model(self, identity: Identity) -> dict[str, torch.Tensor] | None:
        """The weights of the version ``identity`` holds, or ``None`` (logged) when the file is missing or does
        not match the hash recorded with the identity (the agent then downloads the model again)."""
        if identity.version is None or identity.model_sha256 is None:
            return None
        try:
            payload = self.model_path.read_bytes()
        except OSError as exc:
            log.warning("state %s: the held model cannot be read (%s); downloading it again", self.path, exc.strerror)
            return None
        if hashlib.sha256(payload).hexdigest() != identity.model_sha256:
            log.warning("state %s: %s does not match its recorded SHA-256; downloading it again",
                        self.path, self.model_path.name)
            return None
        try:
            state, _ = decode_state(payload)
        except PayloadError as exc:
            log.warning("state %s: the held model does not decode (%s); downloading it again", self.path, exc)
            return None
        return {k: v.to(torch.float32) for k, v in state.items()}


def _write_whole(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, fsync, rename; mode 0600)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # created 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
