"""The versioned, self-describing binary envelope every tandem state payload travels in.

Layout (integers little-endian)::

    offset   size  field
    0        4     magic b"TNDM"
    4        1     format version (FORMAT_VERSION)
    5        1     flags: bit 0 = body compressed with zstd; other bits must be 0
    6        2     reserved, 0
    8        4     H = header length (UTF-8 JSON)
    12       8     B = body length as stored (after compression)
    20       H     header: codec, params, allow_nonfinite, body_bytes, tensors [name, shape, dtype,
                   enc, nbytes, codec fields], meta (user metadata: model id, version, kind, ...)
    20+H     B     body: each tensor's encoded bytes, concatenated in header order
    20+H+B   4     CRC32 of every byte before it

CRC32 detects corruption in transit or storage; proving *who* made a payload is the job of
artifact signatures layered on top. Decoding never trusts the header: every length, offset, dtype
and decoded value is checked, and malformed input is a :class:`PayloadError` saying what and where.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import torch
import zstandard

from tandem.core.codecs import Codec, dtype_from_name, dtype_name, get_codec
from tandem.core.codecs.base import nonfinite_summary
from tandem.core.errors import ConfigError, PayloadError

MAGIC = b"TNDM"
FORMAT_VERSION = 1
FLAG_ZSTD = 0x01
DEFAULT_MAX_BYTES = 1 << 30
"""Largest envelope accepted by default (1 GiB), on encode and decode."""
DEFAULT_MAX_DECODED_BYTES = 4 << 30
"""Largest total decoded size by default (4 GiB): bounds decompression and sparse/bitmask expansion."""

_PREFIX = struct.Struct("<4sBBHIQ")
_CRC = struct.Struct("<I")
MIN_SIZE = _PREFIX.size + _CRC.size


@dataclass(frozen=True)
class EnvelopeHeader:
    """What :func:`read_header` learns from a payload without decoding any tensor."""

    version: int
    codec: str
    params: dict[str, Any]
    compression: str | None
    allow_nonfinite: bool
    tensors: tuple[dict[str, Any], ...]
    meta: dict[str, Any]
    body_bytes: int
    """Body size after decompression."""
    wire_bytes: int
    """The whole envelope's size, ``len(payload)``: the bytes that cross the wire."""
    body_offset: int
    """Byte offset of the (stored) body in the payload."""


def encode_state(
    state: Mapping[str, torch.Tensor],
    codec: str | Codec = "fp32",
    compress: str | None = None,
    meta: Mapping[str, Any] | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> bytes:
    """Encode a state dict into one envelope.

    ``codec`` is a registered name or a configured :class:`Codec`; ``compress="zstd"`` compresses the
    body (with a codec instance, ``None`` keeps the instance's own setting). ``meta`` is JSON-able
    user metadata (model id, version, kind) returned by :func:`decode_state`.
    """
    c = codec if isinstance(codec, Codec) else get_codec(codec, compress=compress)
    compression = compress if compress is not None else c.compress
    if compression not in (None, "zstd"):
        raise ConfigError(f"compress must be 'zstd' or None, got {compression!r}")
    if not isinstance(state, Mapping):
        raise PayloadError(f"state must be a mapping of name -> tensor, got {type(state).__name__}")
    entries, parts = [], []
    for name, tensor in state.items():
        if not isinstance(name, str):
            raise PayloadError(f"state key {name!r} is not a string")
        if not isinstance(tensor, torch.Tensor):
            raise PayloadError(f"state[{name!r}] is a {type(tensor).__name__}, not a torch.Tensor")
        if tensor.layout != torch.strided:
            raise PayloadError(f"tensor {name!r} has layout {tensor.layout}; only dense tensors travel")
        dtype_from_name(dtype_name(tensor.dtype), where=f"tensor {name!r}: ")
        spec, buf = c.encode_entry(name, tensor)
        entries.append(
            {**spec, "name": name, "shape": list(tensor.shape), "dtype": dtype_name(tensor.dtype), "nbytes": len(buf)}
        )
        parts.append(buf)
    if meta is not None and not isinstance(meta, Mapping):
        raise PayloadError(f"meta must be a mapping, got {type(meta).__name__}")
    body = b"".join(parts)
    header = {
        "codec": c.name,
        "params": c.params(),
        "allow_nonfinite": c.allow_nonfinite,
        "body_bytes": len(body),
        "tensors": entries,
        "meta": dict(meta or {}),
    }
    try:
        header_bytes = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"meta is not JSON-serializable: {exc}") from None
    stored = body
    if compression == "zstd":
        stored = zstandard.ZstdCompressor(level=c.level, write_content_size=True).compress(body)
    flags = FLAG_ZSTD if compression == "zstd" else 0
    framed = _PREFIX.pack(MAGIC, FORMAT_VERSION, flags, 0, len(header_bytes), len(stored)) + header_bytes + stored
    out = framed + _CRC.pack(zlib.crc32(framed))
    if len(out) > max_bytes:
        raise PayloadError(f"encoded payload is {len(out)} bytes, over max_bytes={max_bytes}")
    return out


def read_header(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> EnvelopeHeader:
    """Validate framing, checksum and header of a payload; decode no tensor."""
    return _parse(data, max_bytes)[0]


def decode_state(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
    require_finite: bool = False,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Decode an envelope into ``(state, meta)``; every malformation is a :class:`PayloadError`.

    NaN/Inf values are refused unless the sender set the envelope's ``allow_nonfinite`` flag;
    ``require_finite=True`` refuses them whatever the sender said (for receivers that need finite values).
    """
    header, stored = _parse(data, max_bytes)
    declared = sum(_decoded_size(t) for t in header.tensors)
    if max(declared, header.body_bytes) > max_decoded_bytes:
        raise PayloadError(
            f"payload decodes to {max(declared, header.body_bytes)} bytes, over max_decoded_bytes={max_decoded_bytes}"
        )
    body = _decompress(stored, header) if header.compression else stored
    try:
        codec = get_codec(header.codec, **{**header.params, "allow_nonfinite": header.allow_nonfinite})
    except (ConfigError, TypeError, ValueError) as exc:
        raise PayloadError(f"header names codec {header.codec!r} that cannot be built here: {exc}") from None
    state: dict[str, torch.Tensor] = {}
    pos = 0
    for spec in header.tensors:
        name, shape, dtype = spec["name"], tuple(spec["shape"]), dtype_from_name(spec["dtype"])
        where = f"tensor {name!r} (body bytes {pos}..{pos + spec['nbytes']})"
        buf = bytes(body[pos : pos + spec["nbytes"]])
        pos += spec["nbytes"]
        try:
            tensor = codec.decode_entry(name, spec, buf, shape, dtype)
        except PayloadError as exc:  # codecs name the tensor; add where its bytes are
            raise PayloadError(f"{where}: {str(exc).removeprefix(f'tensor {name!r}: ')}") from None
        except (ValueError, RuntimeError, TypeError, OverflowError, KeyError) as exc:
            raise PayloadError(f"{where}: malformed entry: {exc}") from None
        if tuple(tensor.shape) != shape or tensor.dtype != dtype:
            raise PayloadError(f"{where}: decoded {tuple(tensor.shape)} {tensor.dtype}, header says {shape} {dtype}")
        if tensor.is_floating_point() and (require_finite or not header.allow_nonfinite):
            bad = nonfinite_summary(tensor)
            if bad is not None:
                raise PayloadError(f"{where}: decoded {bad}")
        state[name] = tensor
    return state, header.meta


def _decoded_size(spec: dict[str, Any]) -> int:
    numel = math.prod(spec["shape"])  # exact Python ints: a crafted shape cannot overflow the guard
    return numel * torch.empty((), dtype=dtype_from_name(spec["dtype"])).element_size()


def _decompress(stored: memoryview, header: EnvelopeHeader) -> bytes:
    try:
        size = zstandard.frame_content_size(stored)
        if size not in (-1, header.body_bytes):
            raise PayloadError(f"zstd frame declares {size} bytes, header says body_bytes={header.body_bytes}")
        body = zstandard.ZstdDecompressor().decompress(stored, max_output_size=header.body_bytes)
    except zstandard.ZstdError as exc:
        raise PayloadError(f"body at offset {header.body_offset} is not valid zstd: {exc}") from None
    if len(body) != header.body_bytes:
        raise PayloadError(f"body decompresses to {len(body)} bytes, header says body_bytes={header.body_bytes}")
    return body


def _parse(data: bytes, max_bytes: int) -> tuple[EnvelopeHeader, memoryview]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise PayloadError(f"payload must be bytes, got {type(data).__name__}")
    view = memoryview(data).cast("B")
    n = len(view)
    if n > max_bytes:
        raise PayloadError(f"payload is {n} bytes, over max_bytes={max_bytes}")
    if bytes(view[:4]) != MAGIC and not (n < 4 and MAGIC.startswith(bytes(view))):
        raise PayloadError(f"wrong magic at offset 0: {bytes(view[:4])!r}, expected {MAGIC!r}")
    if n < _PREFIX.size:
        raise PayloadError(f"truncated: {n} bytes, a tandem envelope has at least {MIN_SIZE}")
    _, version, flags, reserved, hlen, blen = _PREFIX.unpack_from(view, 0)
    if version != FORMAT_VERSION:
        raise PayloadError(f"unsupported format version {version} at offset 4 (this build reads {FORMAT_VERSION})")
    if flags & ~FLAG_ZSTD or reserved:
        raise PayloadError(f"unknown flags 0x{flags:02x} / reserved 0x{reserved:04x} at offsets 5..8")
    total = _PREFIX.size + hlen + blen + _CRC.size
    if n != total:
        what = "truncated" if n < total else "trailing bytes"
        raise PayloadError(f"{what}: payload is {n} bytes, its prefix (offsets 8..20) declares {total}")
    (stored_crc,) = _CRC.unpack_from(view, total - _CRC.size)
    crc = zlib.crc32(view[: total - _CRC.size])
    if crc != stored_crc:
        raise PayloadError(
            f"checksum mismatch at offset {total - _CRC.size}: stored 0x{stored_crc:08x}, computed 0x{crc:08x} "
            "(payload corrupted)"
        )
    hstart = _PREFIX.size
    try:
        raw = json.loads(bytes(view[hstart : hstart + hlen]).decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise PayloadError(f"header at offsets {hstart}..{hstart + hlen} is not valid UTF-8 JSON: {exc}") from None
    where = f"header at offsets {hstart}..{hstart + hlen}"
    header = _validate_header(raw, version, flags, total, hstart + hlen, where)
    if header.compression is None and blen != header.body_bytes:
        raise PayloadError(f"{where}: body_bytes={header.body_bytes} but the stored body is {blen} bytes")
    return header, view[hstart + hlen : hstart + hlen + blen]


def _reject_constant(token: str) -> NoReturn:
    raise ValueError(f"non-finite number {token} in JSON")


def _validate_header(raw: Any, version: int, flags: int, total: int, body_offset: int, where: str) -> EnvelopeHeader:
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise PayloadError(f"{where}: {what}")

    need(isinstance(raw, dict), "is not a JSON object")
    for key, typ in (("codec", str), ("params", dict), ("allow_nonfinite", bool), ("body_bytes", int),
                     ("tensors", list), ("meta", dict)):  # fmt: skip
        need(isinstance(raw.get(key), typ), f"field {key!r} missing or not {typ.__name__}")
    need(type(raw["body_bytes"]) is int and raw["body_bytes"] >= 0, "body_bytes is not a non-negative int")
    names: set[str] = set()
    for i, t in enumerate(raw["tensors"]):
        need(isinstance(t, dict), f"tensors[{i}] is not an object")
        need(isinstance(t.get("name"), str) and t["name"] not in names, f"tensors[{i}] name missing or repeated")
        names.add(t["name"])
        shape = t.get("shape")
        need(
            isinstance(shape, list) and all(type(d) is int and 0 <= d < 2**62 for d in shape),
            f"tensor {t['name']!r}: shape {shape!r} is not a list of non-negative ints",
        )
        dtype_from_name(t.get("dtype"), where=f"{where}: tensor {t['name']!r}: ")
        need(isinstance(t.get("enc"), str), f"tensor {t['name']!r}: 'enc' missing")
        need(type(t.get("nbytes")) is int and t["nbytes"] >= 0, f"tensor {t['name']!r}: bad nbytes")
    body = sum(t["nbytes"] for t in raw["tensors"])
    need(body == raw["body_bytes"], f"tensors' nbytes sum to {body}, body_bytes says {raw['body_bytes']}")
    return EnvelopeHeader(
        version=version,
        codec=raw["codec"],
        params=raw["params"],
        compression="zstd" if flags & FLAG_ZSTD else None,
        allow_nonfinite=raw["allow_nonfinite"],
        tensors=tuple(raw["tensors"]),
        meta=raw["meta"],
        body_bytes=raw["body_bytes"],
        wire_bytes=total,
        body_offset=body_offset,
    )
