"""Distillation's gain as a function of the cloud's label budget: the regime where it matters.

For each budget ``n`` (nested subsets of the cloud's labelled rows) the large model's head, the labels-only
small model and the distilled small model are trained again; the unlabeled text stays the same. With few labels
the pretrained encoder is far ahead of a bag of n-grams learned from scratch, and distillation carries its
knowledge to the device through unlabeled sentences (semi-supervised distillation; cf. Chen et al., "Big
Self-Supervised Models are Strong Semi-Supervised Learners", NeurIPS 2020).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from tandem.recipes.text.data import TextBenchConfig, TextData
from tandem.text.cascade import paired_bootstrap
from tandem.text.small import predict_proba


def budget_sweep(cfg: TextBenchConfig, data: TextData, *, progress: bool = False) -> tuple[list[dict[str, Any]],
                                                                                            dict[str, float]]:
    """``(curves, headline)``: large / small-on-labels / distilled dev accuracy per label budget."""
    from tandem.recipes.text.stages import cloud_stage, distill_stage, small_stage

    labeled = data.roles.labeled
    order = np.random.default_rng([cfg.seed, 11]).permutation(labeled)
    unlabeled = np.concatenate([data.roles.pool, labeled])  # the same text for every budget
    series: dict[str, list[dict[str, Any]]] = {"large": [], "small: labels only": [], "small: distilled": []}
    headline: dict[str, float] = {}
    for n in sorted(cfg.budgets):
        roles = dataclasses.replace(data.roles, labeled=np.sort(order[:n]), pool=np.setdiff1d(unlabeled, order[:n]))
        sub = dataclasses.replace(data, roles=roles)
        cloud = cloud_stage(cfg, sub, progress=progress)
        small = small_stage(cfg, sub, progress=progress)
        distilled = distill_stage(cfg, sub, cloud, progress=progress)
        for name, acc in (("large", cloud.accuracy), ("small: labels only", small.accuracy),
                          ("small: distilled", distilled.accuracy)):
            series[name].append({"x": float(n), "y": acc, "label": f"{n} labels"})
        right = [predict_proba(m.model, data.dev_ids).argmax(1) == data.dev.labels for m in (distilled, small)]
        gain, lo, hi = paired_bootstrap(*right, seed=cfg.seed)
        headline.update({f"distill_gain@{n}": gain, f"distill_gain@{n}_lo": lo, f"distill_gain@{n}_hi": hi})
    curves = [{"name": name, "x": "labeled_rows", "y": "accuracy", "points": pts} for name, pts in series.items()]
    return curves, headline
