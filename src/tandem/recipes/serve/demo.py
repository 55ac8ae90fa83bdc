"""The embedded demo task of ``tandem serve --demo`` and ``tandem device``: no download needed.

Both sides derive the same task from ``(n_features, n_classes, seed)``: a population of
:class:`~tandem.data.clients.SyntheticClients` (device ``d`` holds client ``d``'s examples), a small MLP
for devices, and a larger MLP for the cloud trained briefly on the population's central set.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tandem.data.clients import SyntheticClients
from tandem.models.mlp import build_model, mlp_spec


@dataclass(frozen=True)
class DemoTask:
    """The shared description of the demo task."""

    n_features: int = 32
    n_classes: int = 10
    seed: int = 0
    population: int = 100_000

    def clients(self) -> SyntheticClients:
        return SyntheticClients(
            self.population,
            n_features=self.n_features,
            n_classes=self.n_classes,
            seed=self.seed,
            min_size=20,
            max_size=60,
        )

    def small_spec(self) -> dict:
        return mlp_spec([self.n_features, 32, self.n_classes])

    def small_model(self) -> nn.Module:
        torch.manual_seed(self.seed)
        return build_model(self.small_spec())

    def large_model(self, steps: int = 150) -> nn.Module:
        """A wider MLP trained with Adam on the population's central set (well under a second on one core)."""
        torch.manual_seed(self.seed + 1)
        model = build_model(mlp_spec([self.n_features, 128, self.n_classes]))
        x, y = self.clients().test_set(4000)
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        for step in range(steps):
            idx = torch.randint(0, len(y), (256,), generator=torch.Generator().manual_seed(step))
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        return model.eval()

    def accuracy(self, model: nn.Module, n: int = 2000) -> float:
        x, y = self.clients().test_set(n)
        with torch.no_grad():
            return float((model(x).argmax(1) == y).float().mean())
