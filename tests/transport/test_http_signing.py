"""Artifact signatures: a signature binds payload, model, version and format; anything else fails to verify."""

from __future__ import annotations

import pytest

pytest.importorskip("cryptography")

from tandem.core.errors import ConfigError
from tandem.transport.signing import ArtifactSigner, SignatureError, verify_artifact

CONTEXT = {"kind": "model", "model_id": "small", "version": 3, "format": "int8", "base": None, "device": None}


def test_sign_and_verify_round_trip_and_key_persistence() -> None:
    signer = ArtifactSigner()
    signed = signer.sign(b"payload", CONTEXT)
    verify_artifact(
        signer.public_key_b64, b"payload", signature=signed.signature, sha256=signed.sha256, context=CONTEXT
    )
    again = ArtifactSigner(signer.private_bytes())
    assert again.public_key_b64 == signer.public_key_b64 and again.key_id == signer.key_id


@pytest.mark.parametrize(
    ("payload", "context", "message"),
    [
        (b"payloaD", CONTEXT, "hash mismatch"),
        (b"payload", {**CONTEXT, "version": 2}, "does not verify"),
        (b"payload", {**CONTEXT, "format": "full"}, "does not verify"),
    ],
)
def test_tampering_or_replay_onto_another_artifact_fails(payload, context, message) -> None:
    signer = ArtifactSigner()
    signed = signer.sign(b"payload", CONTEXT)
    with pytest.raises(SignatureError, match=message):
        verify_artifact(
            signer.public_key_b64, payload, signature=signed.signature, sha256=signed.sha256, context=context
        )


def test_wrong_key_and_malformed_inputs() -> None:
    signed = ArtifactSigner().sign(b"p", CONTEXT)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_artifact(
            ArtifactSigner().public_key_b64, b"p", signature=signed.signature, sha256=signed.sha256, context=CONTEXT
        )
    with pytest.raises(SignatureError, match="base64"):
        verify_artifact(ArtifactSigner().public_key_b64, b"p", signature="!!", sha256=signed.sha256, context=CONTEXT)
    with pytest.raises(ConfigError):
        verify_artifact("not-a-key", b"p", signature=signed.signature, sha256=signed.sha256, context=CONTEXT)
    with pytest.raises(ConfigError):
        ArtifactSigner(b"short")
