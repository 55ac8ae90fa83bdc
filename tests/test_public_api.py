"""The public face: what a user imports from tandem and its direction packages exists, and import tandem is light."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = ["tandem", "tandem.federated", "tandem.delivery", "tandem.routing", "tandem.data", "tandem.models",
            "tandem.sim", "tandem.fleet", "tandem.core", "tandem.transport"]
STRATEGIES = ["FedAvg", "FedAvgM", "FedProx", "Scaffold", "FedAdam", "FedYogi", "FedAdagrad", "QFedAvg", "FedPer",
              "Ditto", "RobustAggregation", "CentralDP", "SecureAggregation"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves(package):
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if getattr(module, name, None) is None]
    assert not missing and len(set(module.__all__)) == len(module.__all__)


def test_strategies_are_classes_where_a_user_looks():
    import tandem
    import tandem.federated as fed

    for name in [*STRATEGIES, "Strategy", "LocalObjective", "register_strategy", "get_strategy",
                 "available_strategies"]:
        assert name in fed.__all__ and name in tandem.__all__
        assert getattr(tandem, name) is getattr(fed, name)
    assert fed.FedAvg(lr=0.05, epochs=1, batch_size=16).objective.lr == 0.05
    assert tandem.federate is importlib.import_module("tandem.sim").federate


def test_import_tandem_loads_nothing_heavy():
    code = ("import sys, tandem; heavy = ('torch', 'ray', 'fastapi', 'onnxruntime', 'sqlalchemy', 'matplotlib');"
            "print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
