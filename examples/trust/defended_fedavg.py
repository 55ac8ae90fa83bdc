"""Compose the device -> cloud defences around FedAvg on digits, without touching the engine.

    python examples/trust/defended_fedavg.py

* client side (hooks, applied to each update before it leaves the device): 20 % of clients flip the sign of
  their update (an attack, for evaluation), then every update is QSGD-quantized to 4 bits + zstd;
* server side (strategy wrappers): updates are screened (NaN/Inf, shapes, absurd norms -> rejected and
  counted) and aggregated by the coordinate-wise median.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tandem.data import dirichlet_partition, load_sklearn
from tandem.federated.attacks import ModelPoisoning, malicious_clients
from tandem.federated.compression import CompressedUplink
from tandem.federated.hooks import HookedRuntime
from tandem.federated.robust import RobustAggregation
from tandem.federated.strategy import LocalObjective, get_strategy
from tandem.sim import ClassificationEval, FederatedSimulation, PartitionedData, make_runtime

N_CLIENTS = 20


def digits_clients(alpha: float = 10.0, seed: int = 0) -> tuple[PartitionedData, np.ndarray, np.ndarray]:
    """scikit-learn digits (pixels in [0, 1]), a quarter held out, the rest Dirichlet(``alpha``) over the clients."""
    digits = load_sklearn("digits")
    x, y = digits.X.astype(np.float32), digits.y.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    test, train = np.sort(order[: len(y) // 4]), np.sort(order[len(y) // 4 :])
    parts = dirichlet_partition(y[train], N_CLIENTS, alpha, seed=seed, row_ids=train)
    return PartitionedData(x, y, parts), x[test], y[test]


def main() -> None:
    data, x_test, y_test = digits_clients()
    bad = malicious_clients(N_CLIENTS, 0.2, seed=0)
    objective = LocalObjective(lr=0.05, epochs=2, batch_size=16)
    for rule in ("mean", "median"):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
        uplink = CompressedUplink("qsgd", bits=4, compress="zstd", seed=0)
        strategy = RobustAggregation(get_strategy("fedavg", objective=objective), rule=rule, max_norm=100.0)
        hooks = [ModelPoisoning("sign_flip", bad), uplink]
        runtime = HookedRuntime(make_runtime("batched", model, data, seed=0), hooks)
        result = FederatedSimulation(
            model, data, strategy, rounds=20, clients_per_round=N_CLIENTS, runtime=runtime,
            evaluate=ClassificationEval(model, x_test, y_test), codec=None, seed=0, progress=False,
        ).run()  # fmt: skip
        sent = sum(uplink.bytes_by_round_.values())
        dense = sum(uplink.dense_bytes_by_round_.values())
        print(
            f"{strategy.name:<14} accuracy {result.final():.4f}   uplink {sent:,} bytes ({dense / sent:.1f}x less "
            f"than fp32)   rejected {len(strategy.rejected_)}"
        )


if __name__ == "__main__":
    main()
