"""Codecs: state dict <-> bytes, registered by name (``fp32``, ``fp16``, ``int8``, ``topk``, ``bitmask``,
``qsgd``, ``sparseq``), and the quantization maths they share (:mod:`tandem.core.codecs.quantize`).

Use :func:`get_codec` to build one by name and :func:`tandem.core.envelope.encode_state` /
``decode_state`` (or ``codec.encode`` / ``codec.decode``) to get self-describing payloads.
"""

from tandem.core.codecs.base import (
    Codec,
    StateDict,
    available_codecs,
    dtype_from_name,
    dtype_name,
    get_codec,
    register_codec,
)
from tandem.core.codecs.bitmask import BitmaskCodec, pack_mask, unpack_mask
from tandem.core.codecs.floats import Fp16Codec, Fp32Codec, fp16_error_bound
from tandem.core.codecs.int8 import Int8Codec
from tandem.core.codecs.qsgd import QSGDCodec
from tandem.core.codecs.quantize import (
    dequantize_int8,
    dequantize_symmetric,
    qsgd_dequantize,
    qsgd_quantize,
    quantize_int8,
    quantize_symmetric,
    stochastic_round,
)
from tandem.core.codecs.sparseq import SparseQuantCodec
from tandem.core.codecs.topk import TopKCodec, index_dtype, topk_indices

__all__ = [
    "BitmaskCodec",
    "Codec",
    "Fp16Codec",
    "Fp32Codec",
    "Int8Codec",
    "QSGDCodec",
    "SparseQuantCodec",
    "StateDict",
    "TopKCodec",
    "available_codecs",
    "dequantize_int8",
    "dequantize_symmetric",
    "dtype_from_name",
    "dtype_name",
    "fp16_error_bound",
    "get_codec",
    "index_dtype",
    "pack_mask",
    "qsgd_dequantize",
    "qsgd_quantize",
    "quantize_int8",
    "quantize_symmetric",
    "register_codec",
    "stochastic_round",
    "topk_indices",
    "unpack_mask",
]
