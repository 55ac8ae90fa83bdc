"""Secure aggregation: the server learns only the sum of the client updates (Bonawitz et al., CCS 2017).

Bonawitz, Ivanov, Kreuter, Marcedone, McMahan, Patel, Ramage, Segal and Seth, "Practical Secure
Aggregation for Privacy-Preserving Machine Learning", CCS 2017, the semi-honest protocol with double
masking, one round trip per phase:

0. *advertise*: client ``u`` makes an X25519 key pair ``(s_u, S_u)`` and sends ``S_u``; the server relays
   all public keys;
1. *share*: ``u`` draws a self-mask seed ``b_u``, Shamir-splits ``b_u`` and ``s_u`` ``t``-of-``n``
   (:mod:`tandem.federated.shamir`) and sends share ``v`` to peer ``v`` through the server, encrypted with
   AES-GCM under a key derived (HKDF) from the pairwise X25519 secret (the paper uses a second key pair for
   this; one pair with two HKDF labels is the common simplification);
2. *masked input*: ``y_u = x_u + PRG(b_u) + sum_{v > u} PRG(s_uv) - sum_{v < u} PRG(s_uv)`` in the ring
   ``Z_{2^64}`` (or ``Z_{2^32}``, :class:`Ring`), where ``x_u`` is the update in fixed point and the PRG is the
   ChaCha20 keystream keyed by HKDF of the pairwise secret ``s_uv``. Pairwise masks cancel in the sum;
3. *unmask*: for every survivor the server collects ``t`` shares of ``b_u`` and removes ``PRG(b_u)``; for
   every client that dropped after step 1 it collects ``t`` shares of ``s_u``, recomputes that client's
   pairwise masks with each survivor and removes them. At least ``t`` clients must reach step 3.

A masked input on its own is a uniformly random ring vector (the self-mask ``PRG(b_u)`` alone makes it so);
the tests check this statistically. The sum is exact in the ring: decoding gives ``sum_u round(x_u 2^f) / 2^f``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tandem.core.errors import ConfigError, PayloadError
from tandem.federated.shamir import Share, combine, decode_share, encode_share, split

FRAC_BITS = 24
"""Default fixed-point fraction bits of the 64-bit ring: resolution 6e-8, sums of |x| below 2^39."""


@dataclass(frozen=True)
class Ring:
    """The ring ``Z_{2^bits}`` (``bits`` 32 or 64) and the fixed-point code ``x -> round(x * 2^frac_bits)``.

    The caller bounds the inputs (e.g. clips updates) so that every partial sum stays below
    ``2^(bits - 1 - frac_bits)`` in magnitude; an overflow wraps silently, as in any ring-based protocol.
    The 32-bit ring halves the masked upload (4 bytes per value, as fp32) at a coarser resolution.
    """

    bits: int = 64
    frac_bits: int = FRAC_BITS

    def __post_init__(self) -> None:
        if self.bits not in (32, 64) or not 0 <= self.frac_bits < self.bits - 2:
            raise ConfigError(f"secagg: ring bits must be 32 or 64 and 0 <= frac_bits < bits - 2, got {self}")

    @property
    def dtype(self) -> type[np.unsignedinteger]:
        return np.uint64 if self.bits == 64 else np.uint32

    def encode(self, x: np.ndarray) -> np.ndarray:
        """``round(x * 2^frac_bits)`` in two's complement (an element of the ring)."""
        x = np.asarray(x, dtype=np.float64)
        if not np.isfinite(x).all():
            raise PayloadError("secagg: cannot encode NaN/Inf in fixed point")
        scaled = np.rint(x * float(1 << self.frac_bits))
        if np.abs(scaled).max(initial=0.0) >= 2.0 ** (self.bits - 2):
            raise PayloadError(
                f"secagg: |x| up to {np.abs(x).max():.3g} overflows the {self.bits}-bit ring at "
                f"frac_bits={self.frac_bits}"
            )
        return scaled.astype(np.int64).view(np.uint64).astype(self.dtype)

    def decode(self, v: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`encode` (the ring element read as a signed integer)."""
        signed = np.int64 if self.bits == 64 else np.int32
        return np.asarray(v, dtype=self.dtype).view(signed).astype(np.float64) / float(1 << self.frac_bits)

    def prg(self, seed: bytes, n: int) -> np.ndarray:
        """``n`` pseudo-random ring elements: the ChaCha20 keystream under a 32-byte ``seed`` (nonce 0)."""
        if len(seed) != 32:
            raise ConfigError(f"secagg: PRG seed must be 32 bytes, got {len(seed)}")
        enc = Cipher(algorithms.ChaCha20(seed, b"\0" * 16), mode=None).encryptor()
        return np.frombuffer(enc.update(b"\0" * (self.bits // 8 * n)), dtype=self.dtype)


DEFAULT_RING = Ring()


def encode_fixed(x: np.ndarray, frac_bits: int = FRAC_BITS) -> np.ndarray:
    """:meth:`Ring.encode` in the 64-bit ring."""
    return Ring(64, frac_bits).encode(x)


def decode_fixed(v: np.ndarray, frac_bits: int = FRAC_BITS) -> np.ndarray:
    """:meth:`Ring.decode` in the 64-bit ring."""
    return Ring(64, frac_bits).decode(v)


def prg(seed: bytes, n: int) -> np.ndarray:
    """:meth:`Ring.prg` in the 64-bit ring."""
    return DEFAULT_RING.prg(seed, n)


def _kdf(secret: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"tandem-secagg/" + label).derive(secret)


def pair_secret(private: X25519PrivateKey, peer_public: bytes) -> bytes:
    """The X25519 shared secret of ``private`` with a peer's 32-byte public key."""
    return private.exchange(X25519PublicKey.from_public_bytes(peer_public))


def pair_mask(secret: bytes, n: int, ring: Ring = DEFAULT_RING) -> np.ndarray:
    return ring.prg(_kdf(secret, b"mask"), n)


class SecAggClient:
    """One client's side of the protocol (module docstring); the device agent runs exactly this object."""

    def __init__(self, client_id: int, *, ring: Ring = DEFAULT_RING) -> None:
        self.client_id = int(client_id)
        self.ring = ring
        self._sk = X25519PrivateKey.generate()
        self._b = os.urandom(32)
        self.public_key = self._sk.public_key().public_bytes_raw()
        self._peers: dict[int, bytes] = {}
        self._held: dict[int, tuple[Share, Share]] = {}  # shares of (s_v, b_v) received from peer v

    def _aead(self, peer: int) -> AESGCM:
        return AESGCM(_kdf(pair_secret(self._sk, self._peers[peer]), b"enc"))

    def share_keys(self, public_keys: Mapping[int, bytes], threshold: int) -> dict[int, bytes]:
        """Step 1: encrypted ``(share of s_u, share of b_u)`` for every other client, keyed by recipient."""
        self._peers = {int(v): bytes(k) for v, k in public_keys.items()}
        ids = sorted(self._peers)
        sk_int = int.from_bytes(self._sk.private_bytes_raw(), "big")
        sk_shares = split(sk_int, len(ids), threshold, xs=[i + 1 for i in ids])
        b_shares = split(int.from_bytes(self._b, "big"), len(ids), threshold, xs=[i + 1 for i in ids])
        out = {}
        for v, s_sh, b_sh in zip(ids, sk_shares, b_shares, strict=True):
            if v == self.client_id:
                self._held[v] = (s_sh, b_sh)
                continue
            nonce = os.urandom(12)
            out[v] = nonce + self._aead(v).encrypt(nonce, encode_share(s_sh) + encode_share(b_sh), None)
        return out

    def receive_shares(self, ciphertexts: Mapping[int, bytes]) -> None:
        """Step 1 (receive): decrypt the shares peers sent to this client."""
        for u, blob in ciphertexts.items():
            plain = self._aead(u).decrypt(blob[:12], blob[12:], None)
            half = len(plain) // 2
            self._held[int(u)] = (decode_share(plain[:half]), decode_share(plain[half:]))

    def masked_input(self, x: np.ndarray) -> np.ndarray:
        """Step 2: the update in fixed point plus self mask and pairwise masks (ring ``Z_{2^64}``)."""
        y = self.ring.encode(x) + self.ring.prg(_kdf(self._b, b"self"), np.asarray(x).size)
        for v, pk in self._peers.items():
            if v == self.client_id:
                continue
            mask = pair_mask(pair_secret(self._sk, pk), y.size, self.ring)
            y = y + mask if self.client_id < v else y - mask
        return y

    def unmask_shares(self, survivors: Sequence[int], dropped: Sequence[int]) -> dict[str, dict[int, bytes]]:
        """Step 3: shares of ``b_v`` for survivors and of ``s_v`` for dropped clients (never both for one client)."""
        if set(survivors) & set(dropped):
            raise ConfigError("secagg: a client cannot be both a survivor and dropped")
        return {
            "b": {v: encode_share(self._held[v][1]) for v in survivors if v in self._held},
            "s": {v: encode_share(self._held[v][0]) for v in dropped if v in self._held},
        }


def unmask_sum(
    masked: Mapping[int, np.ndarray],
    public_keys: Mapping[int, bytes],
    reveals: Sequence[Mapping[str, Mapping[int, bytes]]],
    threshold: int,
    *,
    ring: Ring = DEFAULT_RING,
) -> np.ndarray:
    """Server side of step 3: the exact sum of the survivors' inputs from masked inputs and revealed shares."""
    survivors = sorted(masked)
    dropped = sorted(set(public_keys) - set(masked))
    if len(reveals) < threshold:
        raise ConfigError(f"secagg: {len(reveals)} clients answered the unmask round, the threshold is {threshold}")
    total = np.zeros(next(iter(masked.values())).size, dtype=ring.dtype)
    for y in masked.values():
        total = total + y
    for u in survivors:
        b = combine([decode_share(r["b"][u]) for r in reveals if u in r["b"]][:threshold], threshold)
        total = total - ring.prg(_kdf(b.to_bytes(32, "big"), b"self"), total.size)
    for u in dropped:
        s = combine([decode_share(r["s"][u]) for r in reveals if u in r["s"]][:threshold], threshold)
        sk = X25519PrivateKey.from_private_bytes(s.to_bytes(32, "big"))
        for v in survivors:  # v's input holds +mask if v < u, -mask if v > u; remove it
            mask = pair_mask(pair_secret(sk, public_keys[v]), total.size, ring)
            total = total - mask if v < u else total + mask
    return ring.decode(total)
