"""Shamir t-of-n secret sharing over the prime field GF(2^521 - 1) (Shamir, CACM 1979).

A secret ``s < p`` becomes the constant term of a random polynomial ``f`` of degree ``t - 1``; share ``i``
is ``(x_i, f(x_i))`` with distinct non-zero ``x_i``. Any ``t`` shares give ``s = f(0)`` by Lagrange
interpolation; fewer reveal nothing. ``p = 2^521 - 1`` (a Mersenne prime) holds any 32-byte secret (keys,
seeds) in one share. Coefficients come from :mod:`secrets`. Used by :mod:`tandem.federated.secagg` for
dropout recovery.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from tandem.core.errors import ConfigError, PayloadError

PRIME = (1 << 521) - 1
_Y_BYTES = 66
Share = tuple[int, int]


def split(secret: int, n: int, threshold: int, xs: Sequence[int] | None = None) -> list[Share]:
    """``n`` shares of ``secret`` (an int in ``[0, p)``), any ``threshold`` of which reconstruct it."""
    if not 1 <= threshold <= n:
        raise ConfigError(f"shamir: need 1 <= threshold <= n, got threshold={threshold}, n={n}")
    if not 0 <= secret < PRIME:
        raise ConfigError("shamir: the secret must be an int in [0, 2^521 - 1)")
    xs = list(range(1, n + 1)) if xs is None else [int(x) for x in xs]
    if len(xs) != n or len(set(xs)) != n or min(xs) < 1 or max(xs) >= PRIME:
        raise ConfigError("shamir: xs must be n distinct ints in [1, p)")
    coeffs = [secret] + [secrets.randbelow(PRIME) for _ in range(threshold - 1)]
    shares = []
    for x in xs:
        y = 0
        for c in reversed(coeffs):  # Horner
            y = (y * x + c) % PRIME
        shares.append((x, y))
    return shares


def combine(shares: Sequence[Share], threshold: int) -> int:
    """The secret from at least ``threshold`` shares with distinct x (Lagrange interpolation at 0)."""
    shares = list(shares)[:threshold]
    if len(shares) < threshold:
        raise ConfigError(f"shamir: {len(shares)} shares given, {threshold} needed to reconstruct")
    xs = [x for x, _ in shares]
    if len(set(xs)) != len(xs):
        raise PayloadError("shamir: shares with repeated x cannot be combined")
    secret = 0
    for j, (xj, yj) in enumerate(shares):
        num, den = 1, 1
        for m, xm in enumerate(xs):
            if m != j:
                num = num * (-xm) % PRIME
                den = den * (xj - xm) % PRIME
        secret = (secret + yj * num * pow(den, -1, PRIME)) % PRIME
    return secret


def encode_share(share: Share) -> bytes:
    """4-byte x + 66-byte y, big-endian (70 bytes)."""
    return share[0].to_bytes(4, "big") + share[1].to_bytes(_Y_BYTES, "big")


def decode_share(buf: bytes) -> Share:
    if len(buf) != 4 + _Y_BYTES:
        raise PayloadError(f"shamir: a share is {4 + _Y_BYTES} bytes, got {len(buf)}")
    return int.from_bytes(buf[:4], "big"), int.from_bytes(buf[4:], "big")
