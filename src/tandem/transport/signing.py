"""Ed25519 signatures on delivered artifacts: a device loads only what the cloud it trusts signed.

The envelope's CRC32 catches corruption; it proves nothing about *who* wrote a payload. The cloud signs
every artifact it delivers (model payloads, round plans) with an Ed25519 key, and a device verifies the
signature with the cloud's public key (pinned when the device is provisioned) *before* decoding a byte.

What is signed is not the payload alone but a small canonical statement about it::

    b"tandem-artifact/1\\n" + canonical JSON {"kind", "model_id", "version", "format", "base", "sha256", ...}

so a valid signature cannot be replayed onto another model, version or format (a downgrade attack):
the device rebuilds the statement from what it asked for and the payload it got, and checks that.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tandem.core.errors import ConfigError, PayloadError

if TYPE_CHECKING:  # cryptography is imported when a key is used, so the simulator does not need it
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

DOMAIN = b"tandem-artifact/1\n"


class SignatureError(PayloadError):
    """An artifact's signature or hash does not verify; the artifact must not be loaded."""


def sha256_hex(payload: bytes) -> str:
    """Hex SHA-256 of ``payload``."""
    return hashlib.sha256(payload).hexdigest()


def statement(payload_sha256: str, context: Mapping[str, Any]) -> bytes:
    """The exact bytes signed for a payload with hash ``payload_sha256`` delivered under ``context``."""
    body = {**dict(context), "sha256": payload_sha256}
    return DOMAIN + json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


@dataclass(frozen=True)
class SignedArtifact:
    """A payload plus what a device needs to check it: its hash, the signed context and the signature."""

    payload: bytes
    sha256: str
    context: dict[str, Any]
    signature: str
    """Base64 Ed25519 signature of :func:`statement`."""
    key_id: str


def key_id(public_key: Ed25519PublicKey) -> str:
    """Short fingerprint of a public key (first 16 hex digits of the SHA-256 of its raw bytes)."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


class ArtifactSigner:
    """Holds the cloud's Ed25519 private key and signs artifacts.

    ``private_key`` is a 32-byte raw key (e.g. from :meth:`private_bytes`); ``None`` generates a fresh one.
    """

    def __init__(self, private_key: bytes | None = None) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        if private_key is None:
            self._key = Ed25519PrivateKey.generate()
        else:
            if not isinstance(private_key, bytes) or len(private_key) != 32:
                raise ConfigError("ArtifactSigner: private_key must be 32 raw bytes")
            self._key = Ed25519PrivateKey.from_private_bytes(private_key)
        self.public_key = self._key.public_key()
        self.key_id = key_id(self.public_key)

    def private_bytes(self) -> bytes:
        """The raw private key, for the server to persist."""
        from cryptography.hazmat.primitives import serialization

        return self._key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    @property
    def public_key_b64(self) -> str:
        """The public key as base64 of its 32 raw bytes (what a device pins)."""
        from cryptography.hazmat.primitives import serialization

        raw = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    def sign(self, payload: bytes, context: Mapping[str, Any]) -> SignedArtifact:
        """Sign ``payload`` delivered under ``context`` (JSON-able: kind, model id, version, format...)."""
        digest = sha256_hex(payload)
        signature = self._key.sign(statement(digest, context))
        return SignedArtifact(payload, digest, dict(context), base64.b64encode(signature).decode(), self.key_id)


def load_public_key(public_key_b64: str) -> Ed25519PublicKey:
    """Parse a base64 raw Ed25519 public key; ConfigError if it is not one."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        raw = base64.b64decode(public_key_b64, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, binascii.Error, TypeError) as exc:
        raise ConfigError(f"not a base64 Ed25519 public key: {exc}") from None


def verify_artifact(
    public_key: Ed25519PublicKey | str,
    payload: bytes,
    *,
    signature: str,
    sha256: str,
    context: Mapping[str, Any],
) -> None:
    """Raise :class:`SignatureError` unless ``payload`` hashes to ``sha256`` and ``signature`` signs it in ``context``.

    ``context`` must be rebuilt by the verifier from what it requested (model id, version, format), never
    copied from the response, so a signature for another artifact does not verify.
    """
    from cryptography.exceptions import InvalidSignature

    key = load_public_key(public_key) if isinstance(public_key, str) else public_key
    actual = sha256_hex(payload)
    if actual != sha256:
        raise SignatureError(f"artifact hash mismatch: payload hashes to {actual}, the server declared {sha256}")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error, TypeError):
        raise SignatureError("artifact signature is not valid base64") from None
    try:
        key.verify(raw, statement(actual, context))
    except InvalidSignature:
        raise SignatureError(
            f"artifact signature does not verify for {dict(context)} (tampered payload, wrong key or wrong artifact)"
        ) from None
