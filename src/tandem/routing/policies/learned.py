"""``learned``: request where a tiny on-device model predicts the largest quality gain (IntellectReq-style).

The value model (:class:`tandem.routing.value_model.RequestValueModel`) is trained in the cloud on logged
streams of other users (Lv et al., WWW 2024; Qian et al., KDD 2022) and shipped to the device; the device
evaluates it on its local signals (:data:`tandem.routing.signals.FEATURES`) at every step and requests when
the predicted gain reaches ``threshold``, which :mod:`tandem.routing.calibrate` sets for a target rate.
"""

from __future__ import annotations

import numpy as np

from tandem.core.errors import ConfigError
from tandem.routing.policy import ThresholdPolicy, register_policy
from tandem.routing.signals import StepSignals, feature_matrix
from tandem.routing.value_model import RequestValueModel


@register_policy
class LearnedValuePolicy(ThresholdPolicy):
    """Request when ``model``'s predicted gain of a request is at least ``threshold``."""

    name = "learned"

    def __init__(self, model: RequestValueModel | None = None, threshold: float = 0.0, seed: int = 0) -> None:
        super().__init__(threshold, seed)
        if not isinstance(model, RequestValueModel):
            raise ConfigError("LearnedValuePolicy needs a fitted RequestValueModel (see fit_request_value)")
        self.model = model

    def scores(self, signals: StepSignals) -> np.ndarray:
        return self.model.predict(feature_matrix(signals))
