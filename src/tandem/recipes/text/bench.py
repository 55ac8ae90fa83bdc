"""``tandem text bench``: the large-small collaboration on SST-2, every direction measured in one run.

1. cloud: all-MiniLM-L6-v2 (frozen) + an MLP head trained on the cloud's labelled rows -> the large model;
2. device: the hashed n-gram classifier trained on the same labels alone -> the labels-only small model;
3. cloud -> device: the large model distilled into the small one on unlabeled sentences (Hinton et al.,
   2015), delivered int8 (bytes of the real envelope), run with ONNX Runtime (1-thread latency per sentence);
4. device -> cloud: users fine-tune it on their own labelled rows, the cloud aggregates (FedAvg by default);
5. cloud for device: the cascade — the deployed small model answers, a request policy sends the rest to the
   large model; accuracy vs request rate per policy, PGR/APGR as in RouteLLM (Ong et al., 2024);
6. the label-budget sweep: steps 1-3 again with fewer labels (:mod:`tandem.recipes.text.sweep`).

Stage functions live in :mod:`tandem.recipes.text.stages`; this module wires them and builds the result JSON.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tandem.recipes.text.data import TextBenchConfig, TextData, load_text_data
from tandem.recipes.text.stages import (
    cascade_stage,
    cloud_stage,
    delivery_stage,
    distill_stage,
    federated_stage,
    reference_stages,
    small_stage,
)
from tandem.recipes.text.sweep import budget_sweep
from tandem.report.results import RunResult
from tandem.text.cascade import paired_bootstrap
from tandem.text.small import predict_proba


@dataclass
class TextBenchOutcome:
    """The result JSON plus the headline numbers the CLI prints and the acceptance checks read."""

    result: RunResult
    headline: dict[str, float] = field(default_factory=dict)
    curves: dict[str, list[Any]] = field(default_factory=dict)


def run_text_bench(config: TextBenchConfig | None = None, *, data: TextData | None = None, encoder: Any = None,
                   progress: bool = False) -> TextBenchOutcome:
    """Run every stage of the benchmark (``data`` may be given pre-loaded, e.g. synthetic in tests)."""
    cfg = config or TextBenchConfig()
    started = time.perf_counter()
    data = data if data is not None else load_text_data(cfg, encoder=encoder, progress=progress)
    stages, headline = [], {}
    cloud = cloud_stage(cfg, data, progress=progress)
    stages.append(cloud.record)
    small = small_stage(cfg, data, progress=progress)
    stages.append(small.record)
    if cfg.reference:
        stages.extend(reference_stages(cfg, data, progress=progress))
    distilled = distill_stage(cfg, data, cloud, progress=progress)
    stages.append(distilled.record)
    fed = federated_stage(cfg, data, distilled.model, progress=progress)
    stages.append(fed.record)
    delivery = delivery_stage(cfg, data, fed.model, progress=progress)
    stages.append(delivery.record)
    cascade = cascade_stage(cfg, data, cloud, delivery, progress=progress)
    stages.extend(cascade.records)
    sweep_curves, sweep_headline = budget_sweep(cfg, data, progress=progress) if cfg.budgets else ([], {})
    headline.update(sweep_headline)
    right = [predict_proba(m, data.dev_ids).argmax(1) == data.dev.labels for m in (distilled.model, small.model)]
    _, headline["distill_gain_lo"], headline["distill_gain_hi"] = paired_bootstrap(*right, seed=cfg.seed)
    headline.update({"large_accuracy": cloud.accuracy, "small_labels_accuracy": small.accuracy,
                     "small_distilled_accuracy": distilled.accuracy,
                     "distill_gain": distilled.accuracy - small.accuracy,
                     "small_federated_accuracy": fed.accuracy, "device_accuracy": delivery.accuracy,
                     **delivery.latency, **cascade.headline})
    config_dict = {**cfg.to_dict(), "roles": data.roles.sizes(), "n_dev": len(data.dev)}
    result = RunResult(kind="text-cascade", config=config_dict, stages=stages, rounds=fed.rounds,
                       curves=cascade.curves + sweep_curves, wall_clock_s=time.perf_counter() - started)
    return TextBenchOutcome(result, {k: float(v) for k, v in headline.items()}, cascade.points)
