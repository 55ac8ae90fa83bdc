import numpy as np
import pytest

from tandem.core.errors import ConfigError
from tandem.device.policy import RequestPolicy as AgentHook
from tandem.routing import get_policy
from tandem.routing.agent import AgentPolicy


def test_routing_policies_fit_the_device_agent_hook() -> None:
    probs = np.array([[0.9, 0.1], [0.55, 0.45], [0.6, 0.4], [0.99, 0.01]])
    adapter = AgentPolicy(get_policy("confidence", threshold=0.3))
    assert isinstance(adapter, AgentHook)
    assert adapter.decide(probs).tolist() == [False, True, True, False]  # 1 - top1 >= 0.3
    capped = AgentPolicy(get_policy("confidence", threshold=0.0), max_rate=0.5)
    assert capped.decide(probs).tolist() == [False, True, True, False]  # the two least confident rows
    assert not AgentPolicy(get_policy("never")).decide(probs).any()
    with pytest.raises(ConfigError):
        AgentPolicy(object())
    with pytest.raises(ConfigError):
        AgentPolicy(get_policy("always"), max_rate=2.0)
