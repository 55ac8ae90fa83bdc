"""Put a cloud recommender on a device three ways, on the embedded synthetic data (about a minute, no download).

1. distil the cloud's large SASRec into a small one (the small model starts from the large one's item vectors,
   then learns from the labels: the recipe that measured best) and ship it int8 (bytes from the real payload);
2. personalize it with a per-user binary mask (DIET-style) and with hypernetwork-generated parameters
   (DUET-style), neither of which needs a gradient step on the device;
3. check that what the device computes from the decoded payload is what the cloud intended.
"""

from __future__ import annotations

import copy

import torch

from tandem.core import encode_state
from tandem.data import make_synthetic_fleet
from tandem.delivery.hypernet import ParameterGenerator, params_payload
from tandem.delivery.hypernet import device_scores as hypernet_scores
from tandem.delivery.mask import MaskGenerator, mask_payload
from tandem.delivery.personal import fit_personalizer
from tandem.delivery.quantize import int8_payload, load_int8_payload
from tandem.delivery.seqrec_distill import distill_seqrec
from tandem.models.seqrec import build_seqrec
from tandem.models.seqrec_data import last_position_examples, leave_one_out_split
from tandem.models.seqrec_eval import evaluate_seqrec
from tandem.models.seqrec_training import fit_seqrec

torch.set_num_threads(1)
torch.manual_seed(0)
data = make_synthetic_fleet(n_users=1500, n_items=300, n_clusters=10, seq_len=30, min_seq_len=5, follow_prob=0.5,
                            seed=0).sequences
split = leave_one_out_split(data, max_len=20)


def ndcg(scorer) -> float:
    return evaluate_seqrec(scorer, split.test_histories, split.test_targets, seen=split.test_seen)["ndcg@10"]


large = build_seqrec("sasrec", data.n_items, 20, "large", dim=64)
fit_seqrec(large, split.train, split, epochs=10, patience=2)
small = build_seqrec("sasrec", data.n_items, 20, "small")
distill_seqrec(large, small, split.train, split, transfer_items=True, alpha=0.0, epochs=10, patience=2)

payload = int8_payload(small, meta={"model": "small", "version": 1})
fp32 = encode_state(small.state_dict(), codec="fp32", compress="zstd")
device = load_int8_payload(copy.deepcopy(small), payload)  # the device decodes into its own copy of the model
print(f"large NDCG@10 {ndcg(large):.4f} | small distilled {ndcg(small):.4f} | int8 on device {ndcg(device):.4f}")
print(f"delivery: {len(fp32):,} B fp32+zstd -> {len(payload):,} B int8 ({len(fp32) / len(payload):.1f}x smaller)")

histories, targets = last_position_examples(split.train, 20, per_user=3)
mask_generator = MaskGenerator(copy.deepcopy(device), large)
hypernet = ParameterGenerator(copy.deepcopy(device), large)
for name, generator in (("mask (DIET-style)", mask_generator), ("hypernetwork (DUET-style)", hypernet)):
    fit_personalizer(generator, histories, targets, epochs=5, lr=3e-3)
    print(f"{name}: NDCG@10 {ndcg(generator):.4f} (the int8 model it personalizes: {ndcg(device):.4f})")

history = torch.as_tensor(split.test_histories[:1])  # one user, on one device
mask_bytes = mask_payload({n: m[0] for n, m in mask_generator.masks(history).items()})
with torch.no_grad():
    params_bytes = params_payload({n: p[0] for n, p in hypernet.generate(history).items()})
    gap = (hypernet_scores(hypernet.device_model, params_bytes, history) - hypernet(history))[:, 1:].abs().max()
print(f"one user's mask: {len(mask_bytes):,} B; generated parameters: {len(params_bytes):,} B "
      f"(device vs cloud scores differ by {float(gap):.1e}, fp16 rounding)")
