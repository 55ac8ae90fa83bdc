"""Per-client persistent state of local training: SCAFFOLD's ``c_i``, FedPer's personal layers, Ditto's model.

State exists only for clients that have trained, so memory grows with the clients that took part,
never with the population; strategies without such state keep nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from tandem.federated.client import Stacked


class ClientStates:
    """Per-client persistent tensors by slot (``"c_i"``, ``"personal"``, ``"ditto"``), only for clients seen."""

    def __init__(self) -> None:
        self.slots: dict[str, dict[int, dict[str, torch.Tensor]]] = {}

    def get(self, slot: str, client_id: int) -> dict[str, torch.Tensor] | None:
        return self.slots.get(slot, {}).get(int(client_id))

    def put(self, slot: str, client_id: int, state: Mapping[str, torch.Tensor]) -> None:
        # clone: a row of a round's stacked tensor must not keep the whole stack alive
        self.slots.setdefault(slot, {})[int(client_id)] = {k: v.detach().clone() for k, v in state.items()}

    def put_rows(self, slot: str, ids: Sequence[int] | np.ndarray, stacked: Mapping[str, torch.Tensor]) -> None:
        """Store row ``k`` of every ``[K, ...]`` tensor of ``stacked`` as client ``ids[k]``'s state."""
        for k, c in enumerate(ids):
            self.put(slot, int(c), {key: v[k] for key, v in stacked.items()})

    def gather(
        self, slot: str, ids: Sequence[int] | np.ndarray, keys: Sequence[str], default: Mapping[str, torch.Tensor]
    ) -> Stacked:
        """``{key: [K, ...]}`` of the clients' stored values, ``default[key]`` for clients without one."""
        store = self.slots.get(slot, {})
        out = {}
        for key in keys:
            base = default[key]
            out[key] = torch.stack([store[c][key] if c in store else base for c in map(int, ids)])
        return out

    def n_clients(self) -> int:
        """Clients that have any stored state."""
        return len(set().union(*(s.keys() for s in self.slots.values()))) if self.slots else 0

    def state_dict(self) -> dict[str, Any]:
        return {slot: {c: dict(v) for c, v in per.items()} for slot, per in self.slots.items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.slots = {slot: {int(c): dict(v) for c, v in per.items()} for slot, per in state.items()}
