"""tandem.delivery: cloud -> device. How the cloud's knowledge reaches a small device model, cheaply.

* distillation, large -> small: :func:`distill_classifier` (feature arrays), :func:`distill_next_item`,
  :func:`distill_seqrec` (sequential recommenders), the loss :func:`distillation_loss`;
* int8 quantization: :func:`int8_payload` / :func:`load_int8_payload` (the wire bytes and their decoding on
  the device), :func:`quantized_copy` (what the device computes with), :func:`quantize_state`;
* pruning: :func:`magnitude_masks`, :func:`pruned_copy`, :func:`sparse_int8_state`;
* ONNX export and on-device latency: :func:`export_onnx`, :func:`onnx_session`, :func:`onnx_latency`
  (ONNX Runtime is imported only when called);
* per-device customization: binary masks over a frozen supernet (:class:`MaskGenerator`, DIET-style) and
  parameters written by a hypernetwork from the device's recent data (:class:`ParameterGenerator`,
  DUET-style), both trained by :func:`fit_personalizer`;
* delta delivery: :func:`delta_payload` / :func:`apply_delta`; on-device fine-tuning:
  :func:`finetune_on_sequence`.

Every payload is really encoded, so ``len(payload)`` is the bytes on the wire.
"""

from tandem.delivery.delta import apply_delta, delta_payload, state_difference
from tandem.delivery.distill import distill_classifier, distill_next_item, distillation_loss
from tandem.delivery.finetune import finetune_on_sequence, finetuned_logits
from tandem.delivery.hypernet import ParameterGenerator, params_payload
from tandem.delivery.mask import MaskGenerator, mask_payload, masked_logits
from tandem.delivery.onnx_export import export_onnx, onnx_int8, onnx_latency, onnx_session
from tandem.delivery.personal import Personalizer, UserEncoder, fit_personalizer, freeze
from tandem.delivery.prune import apply_masks, magnitude_masks, pruned_copy, sparse_int8_state, unpack_sparse_state
from tandem.delivery.quantize import (
    dequantize_state,
    int8_payload,
    load_int8_payload,
    pack_int8,
    quantize_state,
    quantized_copy,
    unpack_int8,
)
from tandem.delivery.seqrec_distill import distill_seqrec, seqrec_distillation_loss

__all__ = [
    "MaskGenerator",
    "ParameterGenerator",
    "Personalizer",
    "UserEncoder",
    "apply_delta",
    "apply_masks",
    "delta_payload",
    "dequantize_state",
    "distill_classifier",
    "distill_next_item",
    "distill_seqrec",
    "distillation_loss",
    "export_onnx",
    "finetune_on_sequence",
    "finetuned_logits",
    "fit_personalizer",
    "freeze",
    "int8_payload",
    "load_int8_payload",
    "magnitude_masks",
    "mask_payload",
    "masked_logits",
    "onnx_int8",
    "onnx_latency",
    "onnx_session",
    "pack_int8",
    "params_payload",
    "pruned_copy",
    "quantize_state",
    "quantized_copy",
    "seqrec_distillation_loss",
    "sparse_int8_state",
    "state_difference",
    "unpack_int8",
    "unpack_sparse_state",
]
