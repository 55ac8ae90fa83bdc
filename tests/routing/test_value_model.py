import numpy as np
import pytest

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
