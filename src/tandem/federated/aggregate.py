"""Pure aggregation maths shared by every strategy and runtime.

Kept free of orchestration so the simulator and the HTTP server call the same function.
"""

from collections.abc import Mapping, Sequence

import torch

from tandem.core.errors import ConfigError

StateDict = Mapping[str, torch.Tensor]


def weighted_average(states: Sequence[StateDict], weights: Sequence[float]) -> dict[str, torch.Tensor]:
    """Return sum_k (w_k / sum_j w_j) * state_k, accumulated in float32 in the order given.

    FedAvg (McMahan et al., 2017) with ``weights`` = client example counts. Clients with weight 0
    contribute nothing; at least one weight must be positive.
    """
    if len(states) != len(weights):
        raise ConfigError(f"weighted_average: {len(states)} states but {len(weights)} weights")
    total = float(sum(weights))
    if not states or total <= 0:
        raise ConfigError("weighted_average: need at least one state with a positive weight")
    keys = list(states[0].keys())
    out: dict[str, torch.Tensor] = {}
    for key in keys:
        acc = torch.zeros_like(states[0][key], dtype=torch.float32)
        for state, weight in zip(states, weights, strict=True):
            if weight:
                acc += state[key].to(torch.float32) * (float(weight) / total)
        out[key] = acc.to(states[0][key].dtype)
    return out
