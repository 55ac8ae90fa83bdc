"""The two sides of collaborative inference as the simulator sees them: the device's small model and the cloud.

* A :class:`DeviceScorer` gives the small model's logits over the catalogue for a batch of device-steps.
  :class:`ModelDevice` runs any history -> logits module live; :class:`FactorizedDevice` precomputes a
  :class:`~tandem.models.seqrec.SequentialRecommender`'s user vector per step once, so re-running a policy
  costs one ``[B, dim] @ [dim, items]`` product per tick instead of a forward pass.
* A :class:`CloudScorer` answers a request with the large model's top-``n_candidates`` items and their
  log-probabilities (the items in the sent history excluded). :class:`ModelCloud` runs the model live;
  :class:`CloudTable` stores every step's answer once (the cloud model is deterministic, so replaying a
  policy never needs to run it again).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from tandem.core.errors import ConfigError
from tandem.models.progress import progress_bar
from tandem.models.seqrec import SequentialRecommender
from tandem.routing.streams import Streams


@runtime_checkable
class DeviceScorer(Protocol):
    n_items: int
    flops_per_step: float

    def logits(self, streams: Streams, steps: np.ndarray) -> torch.Tensor: ...

    def logits_at(self, streams: Streams, steps: np.ndarray, items: torch.Tensor) -> torch.Tensor: ...

    def item_vectors(self) -> torch.Tensor | None: ...


@runtime_checkable
class CloudScorer(Protocol):
    n_candidates: int
    flops_per_request: float
    max_len: int

    def answer(self, streams: Streams, steps: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]: ...


def _flops(model: nn.Module) -> float:
    fn = getattr(model, "flops_per_example", None)
    return float(fn()) if callable(fn) else 0.0


def _max_len(model: nn.Module, max_len: int | None) -> int:
    value = max_len or getattr(model, "max_len", None) or getattr(model, "window", None)
    if not isinstance(value, int) or value < 1:
        raise ConfigError(f"{type(model).__name__}: pass max_len (the history length the model reads)")
    return value


def _width_batches(streams: Streams, steps: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Steps sorted by history length and cut into batches, so each batch pads to its own width."""
    order = steps[np.argsort(streams.step_position[steps], kind="stable")]
    return [order[lo : lo + batch_size] for lo in range(0, order.size, batch_size)]


class ModelDevice:
    """The small model run live on each step's history (any module mapping ``[B, L]`` ids to logits)."""

    def __init__(self, model: nn.Module, max_len: int | None = None) -> None:
        self.model = model.eval()
        self.max_len = _max_len(model, max_len)
        n_items = getattr(model, "n_items", None)
        if n_items is None:
            raise ConfigError(f"{type(model).__name__}: has no n_items (the catalogue size the logits cover)")
        self.n_items = int(n_items)
        self.flops_per_step = _flops(model)
        self._window = getattr(model, "window", None)  # fixed-window models need every column

    @torch.no_grad()
    def logits(self, streams: Streams, steps: np.ndarray) -> torch.Tensor:
        width = self.max_len if self._window else None
        return self.model(torch.as_tensor(streams.histories(steps, self.max_len, width))).float()

    def logits_at(self, streams: Streams, steps: np.ndarray, items: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, N]`` of the given item ids (a full forward pass, then a gather)."""
        return self.logits(streams, steps).gather(1, items)

    def item_vectors(self) -> torch.Tensor | None:
        emb = getattr(self.model, "item_embedding", None)
        return emb.weight.detach() if isinstance(emb, nn.Embedding) else None


class FactorizedDevice:
    """Precomputed per-step user vectors; logits = ``U[steps] @ E.T (+ bias)``, id 0 scoring ``-inf``."""

    def __init__(self, user_vectors: torch.Tensor, item_matrix: torch.Tensor, flops_per_step: float = 0.0,
                 item_bias: torch.Tensor | None = None) -> None:
        if user_vectors.dim() != 2 or item_matrix.dim() != 2 or user_vectors.shape[1] != item_matrix.shape[1]:
            raise ConfigError(f"FactorizedDevice: need U [steps, d] and E [items + 1, d], got "
                              f"{list(user_vectors.shape)}, {list(item_matrix.shape)}")
        if item_bias is not None and item_bias.shape != (item_matrix.shape[0],):
            raise ConfigError(f"FactorizedDevice: item_bias must be [{item_matrix.shape[0]}], "
                              f"got {list(item_bias.shape)}")
        self.user_vectors, self.item_matrix = user_vectors.float(), item_matrix.float()
        self.item_bias = None if item_bias is None else item_bias.float()
        self.n_items = int(item_matrix.shape[0] - 1)
        self.flops_per_step = float(flops_per_step)

    @classmethod
    @torch.no_grad()
    def precompute(cls, model: SequentialRecommender, streams: Streams, *, batch_size: int = 2048,
                   progress: bool = False) -> FactorizedDevice:
        """Run ``model.user_vector`` once per step of ``streams`` (a SequentialRecommender)."""
        if not hasattr(model, "user_vector") or not hasattr(model, "item_embedding"):
            raise ConfigError(f"FactorizedDevice: {type(model).__name__} has no user_vector/item_embedding; "
                              "use ModelDevice")
        model.eval()
        out = torch.zeros(streams.n_steps, model.item_embedding.embedding_dim)
        batches = _width_batches(streams, np.arange(streams.n_steps), batch_size)
        with progress_bar(progress) as bar:
            task = bar.add_task("device model: user vectors", total=len(batches))
            for batch in batches:
                out[batch] = model.user_vector(torch.as_tensor(streams.histories(batch, model.max_len))).float()
                bar.advance(task)
        return cls(out, model.item_embedding.weight.detach(), _flops(model))

    def logits(self, streams: Streams, steps: np.ndarray) -> torch.Tensor:
        if streams.n_steps != self.user_vectors.shape[0]:
            raise ConfigError(f"FactorizedDevice: precomputed for {self.user_vectors.shape[0]} steps, "
                              f"these streams have {streams.n_steps}")
        out = self.user_vectors[torch.as_tensor(steps)] @ self.item_matrix.T
        if self.item_bias is not None:
            out = out + self.item_bias
        out[:, 0] = float("-inf")
        return out

    def logits_at(self, streams: Streams, steps: np.ndarray, items: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, N]`` of the given item ids: ``N`` dot products per step, no catalogue pass."""
        users = self.user_vectors[torch.as_tensor(steps)]
        out = (self.item_matrix[items] * users.unsqueeze(1)).sum(-1)
        if self.item_bias is not None:
            out = out + self.item_bias[items]
        return out.masked_fill(items == 0, float("-inf"))

    def item_vectors(self) -> torch.Tensor | None:
        return self.item_matrix


def top_candidates(logits: torch.Tensor, history: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``n`` ``(ids, log-probs)`` of ``logits [B, items + 1]`` with history items and id 0 excluded. Pure."""
    masked = logits.float().clone()
    masked.scatter_(1, history.long(), float("-inf"))
    masked[:, 0] = float("-inf")
    logp = torch.log_softmax(masked, dim=1)
    values, ids = logp.topk(min(n, logp.shape[1] - 1), dim=1)
    return torch.where(torch.isfinite(values), ids, torch.zeros_like(ids)), values


class ModelCloud:
    """The large model run live: each request gets its top ``n_candidates`` unseen items and log-probs."""

    def __init__(self, model: nn.Module, n_candidates: int = 100, max_len: int | None = None,
                 batch_size: int = 1024) -> None:
        if n_candidates < 1:
            raise ConfigError(f"ModelCloud: n_candidates must be >= 1, got {n_candidates}")
        self.model = model.eval()
        self.max_len = _max_len(model, max_len)
        self.n_candidates, self.batch_size = int(n_candidates), int(batch_size)
        self.flops_per_request = _flops(model)
        self._window = getattr(model, "window", None)

    @torch.no_grad()
    def answer(self, streams: Streams, steps: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        steps = np.asarray(steps, dtype=np.int64)
        ids = torch.zeros(steps.size, self.n_candidates, dtype=torch.int64)
        logp = torch.full((steps.size, self.n_candidates), float("-inf"))
        rows = np.argsort(streams.step_position[steps], kind="stable")
        for lo in range(0, rows.size, self.batch_size):
            r = rows[lo : lo + self.batch_size]
            hist = torch.as_tensor(streams.histories(steps[r], self.max_len, self.max_len if self._window else None))
            i, v = top_candidates(self.model(hist), hist, self.n_candidates)
            ids[torch.as_tensor(r), : i.shape[1]], logp[torch.as_tensor(r), : v.shape[1]] = i, v
        return ids, logp


class CloudTable:
    """Every step's cloud answer, computed once: ``ids int64 [steps, N]``, ``logp float32 [steps, N]``."""

    def __init__(self, ids: torch.Tensor, logp: torch.Tensor, flops_per_request: float = 0.0, max_len: int = 50):
        if ids.shape != logp.shape or ids.dim() != 2:
            raise ConfigError(f"CloudTable: ids and logp must be equal [steps, N], got {list(ids.shape)}, "
                              f"{list(logp.shape)}")
        self.ids, self.logp = ids.long(), logp.float()
        self.n_candidates, self.flops_per_request, self.max_len = int(ids.shape[1]), float(flops_per_request), max_len

    @classmethod
    def precompute(cls, cloud: ModelCloud, streams: Streams, *, progress: bool = False) -> CloudTable:
        """Ask ``cloud`` once for every step of ``streams`` (batched by history length)."""
        ids = torch.zeros(streams.n_steps, cloud.n_candidates, dtype=torch.int64)
        logp = torch.full((streams.n_steps, cloud.n_candidates), float("-inf"))
        batches = _width_batches(streams, np.arange(streams.n_steps), cloud.batch_size)
        with progress_bar(progress) as bar:
            task = bar.add_task("cloud model: answers", total=len(batches))
            for batch in batches:
                ids[batch], logp[batch] = cloud.answer(streams, batch)
                bar.advance(task)
        return cls(ids, logp, cloud.flops_per_request, cloud.max_len)

    def answer(self, streams: Streams, steps: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        if streams.n_steps != self.ids.shape[0]:
            raise ConfigError(f"CloudTable: holds {self.ids.shape[0]} steps, these streams have {streams.n_steps}")
        idx = torch.as_tensor(np.asarray(steps, dtype=np.int64))
        return self.ids[idx], self.logp[idx]
