"""tandem: device-cloud collaborative learning and inference with large and small models.

The package is organised by direction of collaboration: :mod:`tandem.delivery` (cloud -> device),
:mod:`tandem.routing` (cloud for device) and :mod:`tandem.federated` (device -> cloud), on top of
:mod:`tandem.data`, :mod:`tandem.models`, :mod:`tandem.fleet`, :mod:`tandem.core` (the wire) and
:mod:`tandem.transport`; :mod:`tandem.sim` runs federated rounds at fleet scale. The main entry points are
importable from here::

    from tandem import FedAvg, PartitionedData, federate
    clients = PartitionedData.from_arrays(x, y, n_clients=50, alpha=0.5)
    result = federate(model, clients, FedAvg(lr=0.05), rounds=20, clients_per_round=10, test=(x_test, y_test))
    print(result.final("accuracy"))

Names are loaded on first use (``import tandem`` itself imports neither torch nor any optional dependency).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> the module that defines it (loaded on first attribute access)
_EXPORTS: dict[str, str] = {
    # device -> cloud: the one-call entry point, the engine and its result, client populations
    "federate": "tandem.sim.federate",
    "FederatedSimulation": "tandem.sim.engine",
    "FederatedResult": "tandem.sim.engine",
    "ClassificationEval": "tandem.sim.engine",
    "PartitionedData": "tandem.data.clients",
    "SyntheticClients": "tandem.data.clients",
    # strategies and their extension point
    **{
        name: "tandem.federated"
        for name in (
            "Strategy",
            "LocalObjective",
            "register_strategy",
            "get_strategy",
            "available_strategies",
            "FedAvg",
            "FedAvgM",
            "FedProx",
            "Scaffold",
            "FedAdam",
            "FedYogi",
            "FedAdagrad",
            "QFedAvg",
            "FedPer",
            "Ditto",
            "RobustAggregation",
            "CentralDP",
            "SecureAggregation",
        )
    },
    # cloud -> device and cloud for device: the short entry points
    "distill_classifier": "tandem.delivery",
    "int8_payload": "tandem.delivery",
    "load_int8_payload": "tandem.delivery",
    "cascade_curve": "tandem.routing",
    "get_policy": "tandem.routing",
    "train_classifier": "tandem.models",
    "predict_proba": "tandem.models",
    # errors
    **{
        name: "tandem.core.errors"
        for name in ("TandemError", "ConfigError", "DataError", "DataNotFoundError", "PayloadError", "TransportError")
    },
}
_PACKAGES = (
    "core",
    "data",
    "delivery",
    "federated",
    "fleet",
    "models",
    "report",
    "routing",
    "sim",
    "text",
    "transport",
)

__all__ = [
    "CentralDP",
    "ClassificationEval",
    "ConfigError",
    "DataError",
    "DataNotFoundError",
    "Ditto",
    "FedAdagrad",
    "FedAdam",
    "FedAvg",
    "FedAvgM",
    "FedPer",
    "FedProx",
    "FedYogi",
    "FederatedResult",
    "FederatedSimulation",
    "LocalObjective",
    "PartitionedData",
    "PayloadError",
    "QFedAvg",
    "RobustAggregation",
    "Scaffold",
    "SecureAggregation",
    "Strategy",
    "SyntheticClients",
    "TandemError",
    "TransportError",
    "__version__",
    "available_strategies",
    "cascade_curve",
    "distill_classifier",
    "federate",
    "get_policy",
    "get_strategy",
    "int8_payload",
    "load_int8_payload",
    "predict_proba",
    "register_strategy",
    "train_classifier",
]

if TYPE_CHECKING:  # what static tools see; at runtime the names load lazily through __getattr__
    from tandem import (  # noqa: F401  (subpackages, reached as tandem.<name>)
        core,
        data,
        delivery,
        federated,
        fleet,
        models,
        report,
        routing,
        sim,
        text,
        transport,
    )
    from tandem.core.errors import (
        ConfigError,
        DataError,
        DataNotFoundError,
        PayloadError,
        TandemError,
        TransportError,
    )
    from tandem.data.clients import PartitionedData, SyntheticClients
    from tandem.delivery import distill_classifier, int8_payload, load_int8_payload
    from tandem.federated import (
        CentralDP,
        Ditto,
        FedAdagrad,
        FedAdam,
        FedAvg,
        FedAvgM,
        FedPer,
        FedProx,
        FedYogi,
        LocalObjective,
        QFedAvg,
        RobustAggregation,
        Scaffold,
        SecureAggregation,
        Strategy,
        available_strategies,
        get_strategy,
        register_strategy,
    )
    from tandem.models import predict_proba, train_classifier
    from tandem.routing import cascade_curve, get_policy
    from tandem.sim.engine import ClassificationEval, FederatedResult, FederatedSimulation
    from tandem.sim.federate import federate


def __getattr__(name: str) -> Any:
    """Load ``tandem.<name>`` (a package) or a public name from its module on first use."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in _PACKAGES:
        return importlib.import_module(f"tandem.{name}")
    raise AttributeError(f"module 'tandem' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(_PACKAGES))
