"""tandem.sim: the simulation engine — batched client execution, selection, deadlines, the Ray backend.

Main entry points: :func:`federate` (one call), :class:`FederatedSimulation` / :func:`run_federated` (engine);
:class:`BatchedRuntime`, :class:`FunctionalRuntime` and :class:`SequentialRuntime` (client runtimes;
:func:`make_runtime` picks one);
:class:`PartitionedData` / :class:`SyntheticClients` (client populations, from :mod:`tandem.data`);
:class:`UniformSelector`, :class:`ScheduleSelector`, :class:`AvailabilitySelector`.
"""

from tandem.data.clients import ClientData, PartitionedData, RoundView, SyntheticClients
from tandem.federated.client_runtime import ClientRuntime
from tandem.federated.client_trainer import SequentialRuntime
from tandem.sim.devices import SimulatedDevices
from tandem.sim.engine import ClassificationEval, FederatedResult, FederatedSimulation, run_federated
from tandem.sim.federate import federate
from tandem.sim.functional import FunctionalRuntime
from tandem.sim.runtime import BatchedRuntime, make_runtime
from tandem.sim.selection import AvailabilitySelector, ScheduleSelector, Selector, UniformSelector
from tandem.sim.stacked import StackedMLP

__all__ = [
    "AvailabilitySelector",
    "BatchedRuntime",
    "ClassificationEval",
    "ClientData",
    "ClientRuntime",
    "FederatedResult",
    "FederatedSimulation",
    "FunctionalRuntime",
    "PartitionedData",
    "RoundView",
    "ScheduleSelector",
    "Selector",
    "SequentialRuntime",
    "SimulatedDevices",
    "StackedMLP",
    "SyntheticClients",
    "UniformSelector",
    "federate",
    "make_runtime",
    "run_federated",
]
