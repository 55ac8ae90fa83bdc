"""The large-model inference endpoint's engine: concurrent requests share one batched forward pass.

Each request's rows wait at most ``max_wait_ms`` for other requests already in flight to join (or until
``max_batch_rows`` are waiting), then one forward pass of the large model serves them all and every request
gets its own rows back. Under load this turns N small matrix products into one large one; a lone request
does not wait at all.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

import torch
from torch import nn

from tandem.core.envelope import decode_state
from tandem.core.errors import ConfigError, PayloadError


@dataclass
class _Pending:
    x: torch.Tensor
    future: asyncio.Future[torch.Tensor]


class BatchedModel:
    """Serves ``model`` (``[rows, in_features]`` floats -> ``[rows, classes]`` logits) with micro-batching."""

    def __init__(
        self,
        model: nn.Module,
        in_features: int,
        *,
        max_batch_rows: int = 1024,
        max_wait_ms: float = 2.0,
        max_request_rows: int = 256,
        inline_rows: int = 64,
    ) -> None:
        if in_features < 1 or max_batch_rows < 1 or max_request_rows < 1 or max_wait_ms < 0:
            raise ConfigError("BatchedModel: in_features, max_batch_rows, max_request_rows >= 1 and max_wait_ms >= 0")
        self.model = model.eval()
        self.in_features, self.max_batch_rows = int(in_features), int(max_batch_rows)
        self.max_wait_s, self.max_request_rows = max_wait_ms / 1000.0, int(max_request_rows)
        self.inline_rows = int(inline_rows)
        self.batches = 0
        self._active = 0
        self.rows = 0
        self._queue: asyncio.Queue[_Pending] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._lock = threading.Lock()

    def parse(self, payload: bytes, max_bytes: int) -> torch.Tensor:
        """The request's inputs: an envelope with exactly one float tensor ``x`` of shape ``[rows, in_features]``."""
        state, _ = decode_state(payload, max_bytes=max_bytes, max_decoded_bytes=64 * max_bytes)
        if set(state) != {"x"}:
            raise PayloadError(f"inference payload must hold exactly one tensor 'x', got {sorted(state)[:5]}")
        x = state["x"]
        if not x.is_floating_point() or x.ndim != 2 or x.shape[1] != self.in_features:
            raise PayloadError(f"'x' must be a float tensor [rows, {self.in_features}], got {tuple(x.shape)} {x.dtype}")
        if not 1 <= x.shape[0] <= self.max_request_rows:
            raise PayloadError(f"'x' has {x.shape[0]} rows; a request carries 1..{self.max_request_rows}")
        if not bool(torch.isfinite(x).all()):
            raise PayloadError("'x' has NaN/Inf values")
        return x.to(torch.float32)

    async def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for ``x`` (already checked by :meth:`parse`), computed in a shared batch."""
        loop = asyncio.get_running_loop()
        if self._queue is None or self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._run())
        future = loop.create_future()
        self._active += 1
        try:
            await self._queue.put(_Pending(x, future))
            return await future
        finally:
            self._active -= 1

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            first = await self._queue.get()
            batch, rows = [first], first.x.shape[0]
            deadline = asyncio.get_running_loop().time() + self.max_wait_s
            while rows < self.max_batch_rows:
                timeout = deadline - asyncio.get_running_loop().time()
                if timeout <= 0 or (self._queue.empty() and len(batch) >= self._active):
                    break  # nobody else is waiting: do not make a lone request wait for company
                try:
                    item = await asyncio.wait_for(self._queue.get(), timeout)
                except TimeoutError:
                    break
                batch.append(item)
                rows += item.x.shape[0]
            try:
                x = torch.cat([p.x for p in batch])
                # a small batch costs less than a hop to a worker thread; a large one must not block the loop
                out = self._forward(x) if rows <= self.inline_rows else await asyncio.to_thread(self._forward, x)
            except Exception as exc:
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(exc)
                continue
            start = 0
            for p in batch:
                n = p.x.shape[0]
                if not p.future.done():
                    p.future.set_result(out[start : start + n])
                start += n

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        with self._lock, torch.no_grad():
            self.batches += 1
            self.rows += x.shape[0]
            return self.model(x).to(torch.float32)
