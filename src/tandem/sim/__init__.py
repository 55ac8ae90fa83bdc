"""tandem.sim: the simulation engine — batched client execution, selection, deadlines, the Ray backend.

Main entry points: :class:`FederatedSimulation` / :func:`run_federated` (engine), :class:`BatchedRuntime`
and :class:`SequentialRuntime` (client runtimes), :class:`PartitionedData` / :class:`SyntheticClients`
(client populations), :class:`UniformSelector`, :class:`ScheduleSelector`, :class:`AvailabilitySelector`.
"""

from tandem.sim.clientdata import ClientData, PartitionedData, RoundView, SyntheticClients
from tandem.sim.engine import ClassificationEval, FederatedResult, FederatedSimulation, run_federated
from tandem.sim.runtime import BatchedRuntime, ClientRuntime, SequentialRuntime, make_runtime
from tandem.sim.selection import AvailabilitySelector, ScheduleSelector, Selector, UniformSelector
from tandem.sim.stacked import StackedMLP
from tandem.sim.wire import Wire

__all__ = [
    "AvailabilitySelector",
    "BatchedRuntime",
    "ClassificationEval",
    "ClientData",
    "ClientRuntime",
    "FederatedResult",
    "FederatedSimulation",
    "PartitionedData",
    "RoundView",
    "ScheduleSelector",
    "Selector",
    "SequentialRuntime",
    "StackedMLP",
    "SyntheticClients",
    "UniformSelector",
    "Wire",
    "make_runtime",
    "run_federated",
]
