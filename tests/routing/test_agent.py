import numpy as np
import pytest

from tandem.core.errors import ConfigError
from tandem.routing import get_policy
from tandem.routing.agent import AGENT_UNCERTAINTY, AgentPolicy, as_agent_policy


def test_routing_policies_fit_the_device_agent_hook() -> None:
    probs = np.array([[0.9, 0.1], [0.55, 0.45], [0.6, 0.4], [0.99, 0.01]])
    adapter = AgentPolicy(get_policy("confidence", threshold=0.3))
    assert adapter.decide(probs).tolist() == [False, True, True, False]  # 1 - top1 >= 0.3
    capped = AgentPolicy(get_policy("confidence", threshold=0.0), max_rate=0.5)
    assert capped.decide(probs).tolist() == [False, True, True, False]  # the two least confident rows
    assert not AgentPolicy(get_policy("never")).decide(probs).any()
    with pytest.raises(ConfigError):
        AgentPolicy(object())
    with pytest.raises(ConfigError):
        AgentPolicy(get_policy("always"), max_rate=2.0)
    with pytest.raises(ConfigError):
        adapter.decide(np.array([0.9, 0.1]))  # one row without its class axis


def test_as_agent_policy_wraps_passes_through_and_defaults_to_confidence() -> None:
    probs = np.array([[0.9, 0.1], [0.79, 0.21], [0.5, 0.5]])
    default = as_agent_policy(None)
    assert default.policy.name == "confidence" and default.policy.get_params()["threshold"] == AGENT_UNCERTAINTY
    assert default.decide(probs).tolist() == [False, True, True]
    capped = AgentPolicy(get_policy("always"), max_rate=0.5)
    assert as_agent_policy(capped) is capped
    assert as_agent_policy(get_policy("always")).decide(probs).all()
    with pytest.raises(ConfigError):
        as_agent_policy(object())  # type: ignore[arg-type]
