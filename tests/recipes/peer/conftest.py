"""The peer workload's tests share the simulator tests' fixtures (peers folder, one torch thread)."""

from tests.sim.conftest import one_torch_thread, peers_dir

__all__ = ["one_torch_thread", "peers_dir"]
