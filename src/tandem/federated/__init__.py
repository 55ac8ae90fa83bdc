"""tandem.federated: device -> cloud. The cloud learns from devices without their raw data.

Every strategy is a class taking keyword arguments; the clients' local objective is given as ``lr``,
``epochs``, ``batch_size`` (or a whole :class:`LocalObjective`), and what the run knows (the population
size) comes from the engine, never from the user::

    from tandem.federated import FedProx, Scaffold, RobustAggregation
    strategy = FedProx(mu=0.01, lr=0.05, epochs=1, batch_size=16)
    robust = RobustAggregation(Scaffold(lr=0.05), rule="median")

* strategies: :class:`FedAvg`, :class:`FedAvgM`, :class:`FedProx`, :class:`Scaffold`, :class:`FedAdam`,
  :class:`FedYogi`, :class:`FedAdagrad`, :class:`QFedAvg`, personalization :class:`FedPer`, :class:`Ditto`;
* wrappers around any strategy: :class:`RobustAggregation` (median, trimmed mean, Krum, norm clipping),
  :class:`CentralDP` (DP-FedAvg with an accountant and a budget), :class:`SecureAggregation`;
* client-side hooks: :class:`LocalDP`, :class:`CompressedUplink` (update compression), :class:`PerClientHook`;
* the extension point: :class:`Strategy` + :func:`register_strategy`, looked up by :func:`get_strategy`.

Run a strategy with :func:`tandem.federate` (or :class:`tandem.sim.FederatedSimulation`).
"""

from tandem.federated.aggregate import weighted_average
from tandem.federated.attacks import ModelPoisoning, flip_labels, malicious_clients
from tandem.federated.compression import CompressedUplink
from tandem.federated.hooks import ClientHook, HookedRuntime, PerClientHook
from tandem.federated.privacy import CentralDP, LocalDP, PrivacyBudgetExceeded
from tandem.federated.robust import (
    RobustAggregation,
    UpdateScreen,
    coordinate_median,
    krum,
    multikrum,
    trimmed_mean,
)
from tandem.federated.secagg_round import SecureAggregation
from tandem.federated.strategies.ditto import Ditto
from tandem.federated.strategies.fedadagrad import FedAdagrad
from tandem.federated.strategies.fedadam import FedAdam
from tandem.federated.strategies.fedavg import FedAvg
from tandem.federated.strategies.fedavgm import FedAvgM
from tandem.federated.strategies.fedper import FedPer
from tandem.federated.strategies.fedprox import FedProx
from tandem.federated.strategies.fedyogi import FedYogi
from tandem.federated.strategies.qfedavg import QFedAvg
from tandem.federated.strategies.scaffold import Scaffold
from tandem.federated.strategy import (
    ClientResult,
    LocalObjective,
    RoundPlan,
    Strategy,
    available_strategies,
    get_strategy,
    register_strategy,
)

__all__ = [
    "CentralDP",
    "ClientHook",
    "ClientResult",
    "CompressedUplink",
    "Ditto",
    "FedAdagrad",
    "FedAdam",
    "FedAvg",
    "FedAvgM",
    "FedPer",
    "FedProx",
    "FedYogi",
    "HookedRuntime",
    "LocalDP",
    "LocalObjective",
    "ModelPoisoning",
    "PerClientHook",
    "PrivacyBudgetExceeded",
    "QFedAvg",
    "RobustAggregation",
    "RoundPlan",
    "Scaffold",
    "SecureAggregation",
    "Strategy",
    "UpdateScreen",
    "available_strategies",
    "coordinate_median",
    "flip_labels",
    "get_strategy",
    "krum",
    "malicious_clients",
    "multikrum",
    "register_strategy",
    "trimmed_mean",
    "weighted_average",
]
