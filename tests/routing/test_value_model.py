import numpy as np
import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.routing import RequestValueModel, captured_gain, fit_request_value
from tandem.routing.signals import FEATURES


def test_captured_gain_by_hand() -> None:
    gains = np.array([0.0, 1.0, 0.0, 3.0])
    assert captured_gain(np.array([0.1, 0.5, 0.2, 0.9]), gains, 0.25) == pytest.approx(0.75)
    assert captured_gain(np.array([0.9, 0.5, 0.2, 0.1]), gains, 0.5) == pytest.approx(0.25)
    assert captured_gain(np.zeros(4), np.zeros(4), 0.5) == 0.0
    with pytest.raises(ConfigError):
        captured_gain(np.zeros(3), np.zeros(4), 0.5)


def test_fit_learns_where_the_gain_is() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((3000, len(FEATURES))).astype(np.float32)
    gains = np.where(x[:, 3] > 0.8, 1.0, 0.0) * rng.random(3000)  # gain only where feature 3 is high
    model, report = fit_request_value(x, gains, groups=np.arange(3000) // 10, epochs=30, seed=0)
    assert isinstance(model, RequestValueModel)
    assert report.captured["20%"] > 0.8  # random would capture 20%
    assert model.predict(x[:5]).shape == (5,)
    with pytest.raises(ConfigError):
        model.predict(x[:, :3])


def test_fit_rejects_bad_input() -> None:
    x = np.zeros((50, len(FEATURES)), np.float32)
    with pytest.raises(ConfigError, match="finite"):
        fit_request_value(x, np.full(50, np.nan))
    with pytest.raises(ConfigError):
        fit_request_value(x[:5], np.zeros(5))
    with pytest.raises(ConfigError, match="groups"):
        fit_request_value(x, np.zeros(50), groups=np.zeros(50))


def test_an_ensemble_averages_its_members() -> None:
    rng = np.random.default_rng(1)
    x = rng.random((2000, len(FEATURES))).astype(np.float32)
    gains = np.where(x[:, 3] > 0.8, 1.0, 0.0) * rng.random(2000)
    model, report = fit_request_value(x, gains, groups=np.arange(2000) // 10, epochs=20, seed=0, members=3)
    assert model.members == 3 and len(report.member_epochs) == 3
    assert report.captured["20%"] > 0.75  # random requests capture 0.2
    z = (torch.as_tensor(x[:7]) - model.mean) / model.std
    with torch.no_grad():
        each = torch.stack([net(z).squeeze(-1) for net in model.nets])
    assert np.allclose(model.predict(x[:7]), each.mean(0).numpy(), atol=1e-6)
    assert not torch.allclose(each[0], each[1])  # the members start from different seeds
    single, _ = fit_request_value(x, gains, groups=np.arange(2000) // 10, epochs=20, seed=0)
    assert np.allclose(single.predict(x[:7]), each[0].numpy(), atol=1e-6)  # member 0 is the single model
    with pytest.raises(ConfigError):
        RequestValueModel(members=0)
    with pytest.raises(ConfigError):
        fit_request_value(x, gains, members=0)
