"""When should a device ask the cloud? Replay synthetic users with a small on-device model and a large cloud model.

    python examples/routing/collaborative_inference.py

Users are split three ways: the models train on the first, the learned request policy trains on logged
streams of the second, and every policy is measured on the third. Last, the learned policy is calibrated to
a quality target instead of a rate: the fewest requests that recover 80% of the never->always gap. The
cloud's answers are anticipatory: besides its top 50 items it sends its answer after each of the 100 clicks
it expects most (``ANTICIPATE = 0`` sends the list alone). Takes about a minute on a laptop.
"""

from __future__ import annotations

import torch

from tandem.data import SequenceDataset, make_synthetic_fleet
from tandem.models.seqrec import build_seqrec
from tandem.models.seqrec_training import fit_seqrec
from tandem.routing import (
    Anticipation,
    CloudTable,
    FactorizedDevice,
    ModelCloud,
    Streams,
    StreamSimulator,
    calibrate,
    calibrate_to_quality,
    fit_request_value,
    get_policy,
    signals_from_features,
    split_users,
)
from tandem.routing.policies import LearnedValuePolicy

ANTICIPATE = 100
torch.manual_seed(0)
users = split_users(make_synthetic_fleet(1500, n_items=300, seq_len=30, seed=0).sequences, seed=0)
large = build_seqrec("sasrec", 300, 20, "large", dim=64)
small = build_seqrec("sasrec", 300, 20, "small")
for model in (large, small):
    fit_seqrec(model, users.train, epochs=8)


def simulator(seqs: SequenceDataset) -> StreamSimulator:
    streams = Streams(seqs)
    cloud = CloudTable.precompute(ModelCloud(large.eval(), n_candidates=50), streams)
    anticipation = Anticipation(large, streams, ANTICIPATE, next_len=10, max_len=20) if ANTICIPATE else None
    return StreamSimulator(streams, FactorizedDevice.precompute(small.eval(), streams), cloud, combiner="fusion",
                           anticipation=anticipation)


log_sim, eval_sim = simulator(users.log), simulator(users.eval)

# 1. The learned policy: log random requests on the log users, regress the measured gain of a request.
logs = [log_sim.run(get_policy("random", rate=r), log=True).log for r in (0.1, 0.3, 0.5)]
features = torch.cat([torch.as_tensor(g.features) for g in logs]).numpy()
gains = torch.cat([torch.as_tensor(g.gains) for g in logs]).numpy()
value_model, _ = fit_request_value(features, gains)

# 2. Calibrate every policy to a 20% request rate on the log users, then measure it on the eval users.
never, always = eval_sim.run(get_policy("never")), eval_sim.run(get_policy("always"))
print(f"never  ndcg@10 {never.metrics['ndcg@10']:.4f}   always ndcg@10 {always.metrics['ndcg@10']:.4f}")


def share_of_gap(quality: float, low: float, high: float) -> float:
    """The share of the never (``low``) -> always (``high``) gap that ``quality`` recovers."""
    return (quality - low) / (high - low)


reference = signals_from_features(features)
for policy in (get_policy("random"), get_policy("periodic"), get_policy("confidence"),
               get_policy("inconsistency"), LearnedValuePolicy(value_model)):
    scores = policy.scores(reference) if policy.knob == "threshold" else None
    tuned = calibrate(policy, 0.2, lambda p: log_sim.run(p).request_rate, reference_scores=scores).policy
    run = eval_sim.run(tuned)
    share = share_of_gap(run.metrics["ndcg@10"], never.metrics["ndcg@10"], always.metrics["ndcg@10"])
    print(f"{policy.name:>13}: rate {run.request_rate:.3f}  ndcg@10 {run.metrics['ndcg@10']:.4f}  "
          f"gap recovered {share:.0%}  bytes/step {(run.bytes_up + run.bytes_down) / run.n_steps:.0f}")

# 3. A budget is a cap, not a quota: the fewest requests (at most 20%) that recover 80% of the gap on the log users.
log_never, log_always = (log_sim.run(get_policy(name)).metrics["ndcg@10"] for name in ("never", "always"))


def rate_and_share(policy: LearnedValuePolicy) -> tuple[float, float]:
    run = log_sim.run(policy)
    return run.request_rate, share_of_gap(run.metrics["ndcg@10"], log_never, log_always)


learned = LearnedValuePolicy(value_model)
target = calibrate_to_quality(learned, 0.8, rate_and_share, reference_scores=learned.scores(reference), max_rate=0.2)
run = eval_sim.run(target.policy)
share = share_of_gap(run.metrics["ndcg@10"], never.metrics["ndcg@10"], always.metrics["ndcg@10"])
print(f"learned, 80% target: rate {run.request_rate:.3f} (log users {target.rate:.3f})  gap recovered {share:.0%}")
