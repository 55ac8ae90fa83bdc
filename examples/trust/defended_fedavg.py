"""Compose the device -> cloud defences around FedAvg on digits, without touching the engine.

    python examples/trust/defended_fedavg.py

* client side (hooks, applied to each update before it leaves the device): 20 % of clients flip the sign of
  their update (an attack, for evaluation), then every update is QSGD-quantized to 4 bits + zstd;
* server side (strategy wrappers): updates are screened (NaN/Inf, shapes, absurd norms -> rejected and
  counted) and aggregated by the coordinate-wise median.
"""

from __future__ import annotations

from tandem.federated.attacks import ModelPoisoning, malicious_clients
from tandem.federated.compression import CompressedUplink
from tandem.federated.robust import RobustAggregation
from tandem.federated.strategy import LocalObjective, get_strategy
from tandem.recipes.trust.scenarios import digits_scenario, run_scenario


def main() -> None:
    scenario = digits_scenario(n_clients=20, alpha=10.0)
    bad = malicious_clients(scenario.n_clients, 0.2, seed=0)
    objective = LocalObjective(lr=0.05, epochs=2, batch_size=16)
    for rule in ("mean", "median"):
        uplink = CompressedUplink("qsgd", bits=4, compress="zstd", seed=0)
        strategy = RobustAggregation(get_strategy("fedavg", objective=objective), rule=rule, max_norm=100.0)
        hooks = [ModelPoisoning("sign_flip", bad), uplink]
        result = run_scenario(scenario, strategy, rounds=20, hooks=hooks)
        sent = sum(uplink.bytes_by_round_.values())
        dense = sum(uplink.dense_bytes_by_round_.values())
        print(
            f"{strategy.name:<14} accuracy {result.final():.4f}   uplink {sent:,} bytes ({dense / sent:.1f}x less "
            f"than fp32)   rejected {len(strategy.rejected_)}"
        )


if __name__ == "__main__":
    main()
