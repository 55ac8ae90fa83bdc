"""The streaming session simulator: replay users' real sequences step by step with a request policy.

At each step a device holds its small model and the last cloud answer (candidates + log-probs, with its
age). It computes its local signals, its policy decides whether to ask the cloud (a budget may veto), the
device ranks with what it then holds (a :class:`~tandem.routing.combine.Combiner`), and the item the user
really clicked next scores the step (NDCG@k, HR@k, full ranking, already-clicked items excluded). Latency
comes from the fleet profiles (device compute, link, cloud compute); bytes from real payload sizes; cloud
cost counts requests and FLOPs.

Vectorized over devices, looped over steps: users are processed in chunks, each chunk sorted by stream
length so the devices still active at step ``k`` are a prefix of the chunk's arrays. With ``log=True``
every step also computes both counterfactuals (ask now / keep the held answer) and records the gain with
the signals: the training data of the learned policy (:mod:`tandem.routing.value_model`).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from tandem.core.errors import ConfigError
from tandem.core.link import Link
from tandem.fleet.profiles import FleetProfiles
from tandem.fleet.sampling import sample_fleet
from tandem.models.progress import progress_bar
from tandem.routing.anticipate import Anticipation
from tandem.routing.budget import Budget
from tandem.routing.combine import Combiner, HeldAnswer, RankQuery, get_combiner
from tandem.routing.digest import SmallDigest, build_digest
from tandem.routing.payloads import PayloadSizer
from tandem.routing.policy import RequestPolicy
from tandem.routing.scorers import CloudScorer, DeviceScorer
from tandem.routing.signals import (
    NO_CACHE_AGE,
    StepSignals,
    feature_matrix,
    normalized_surprise,
    topk_overlap,
)
from tandem.routing.stream_state import ChunkState, StepLog, Totals, ndcg_at
from tandem.routing.streams import Streams


@dataclass
class StreamRun:
    """One policy replayed over every stream: quality, requests, bytes, latency and cloud cost."""

    policy: str
    n_steps: int
    requests: int
    metrics: dict[str, float]
    bytes_up: int = 0
    bytes_down: int = 0
    cloud_flops: float = 0.0
    latency_p50_s: float = 0.0
    latency_p95_s: float = 0.0
    latency_mean_s: float = 0.0
    wall_s: float = 0.0
    ranks: np.ndarray | None = field(default=None, repr=False)
    requested: np.ndarray | None = field(default=None, repr=False)
    log: StepLog | None = field(default=None, repr=False)

    @property
    def request_rate(self) -> float:
        return self.requests / max(self.n_steps, 1)


class StreamSimulator:
    """Replays ``streams`` with a small model on each device and a large model in the cloud.

    Args:
        streams: the users' streams. device / cloud: the two models (:mod:`tandem.routing.scorers`).
        combiner: how a device ranks with a held answer (name or :class:`Combiner`; default ``fusion``).
        fleet: device profiles (user ``u`` runs on device ``u % len(fleet)``); default ``sample_fleet``.
        k: cut-off of NDCG/HR and of the list a device shows. cloud_gflops: the cloud's effective speed.
        fresh_clicks: how many clicks since the answer the re-ranker sees. chunk_users: devices per chunk.
        keep_steps: keep every step's rank and request flag on the result.
        digest: a precomputed :class:`~tandem.routing.digest.SmallDigest` of ``device`` on ``streams``
            (built here otherwise: one pass of the small model over every step).
        anticipation: the cloud's anticipatory answers on these streams (:mod:`tandem.routing.anticipate`);
            None: answers are the candidate list alone.
    """

    def __init__(self, streams: Streams, device: DeviceScorer, cloud: CloudScorer, *,
                 combiner: str | Combiner = "fusion", fleet: FleetProfiles | None = None, k: int = 10,
                 cloud_gflops: float = 1000.0, fresh_clicks: int = 5, chunk_users: int = 4096,
                 keep_steps: bool = False, digest: SmallDigest | None = None, seed: int = 0,
                 progress: bool = False, anticipation: Anticipation | None = None) -> None:
        if device.n_items != streams.n_items:
            raise ConfigError(f"StreamSimulator: device model has {device.n_items} items, streams {streams.n_items}")
        if k < 1 or chunk_users < 1 or fresh_clicks < 0 or not cloud_gflops > 0:
            raise ConfigError("StreamSimulator: need k >= 1, chunk_users >= 1, fresh_clicks >= 0, cloud_gflops > 0")
        if anticipation is not None and anticipation.streams is not streams:
            raise ConfigError("StreamSimulator: the anticipation was computed for other streams")
        self.streams, self.device, self.cloud, self.anticipation = streams, device, cloud, anticipation
        self.combiner = get_combiner(combiner) if isinstance(combiner, str) else combiner
        self.fleet = fleet if fleet is not None else sample_fleet(max(streams.n_users, 1), seed=seed)
        self.k, self.cloud_gflops, self.fresh_clicks = k, float(cloud_gflops), fresh_clicks
        self.chunk_users, self.keep_steps, self.progress = chunk_users, keep_steps, progress
        self._horizon, self._discount = 1, 1.0
        self.sizer = PayloadSizer()
        self.item_vectors = device.item_vectors()
        self.unit_vectors = None if self.item_vectors is None else \
            torch.nn.functional.normalize(self.item_vectors.float(), dim=1)
        depth = k + cloud.n_candidates + 1
        if digest is None:
            digest = build_digest(streams, device, depth, progress=progress)
        if digest.n_steps != streams.n_steps or digest.depth < min(depth, streams.n_items):
            raise ConfigError(f"StreamSimulator: the digest covers {digest.n_steps} steps at depth {digest.depth}; "
                              f"need {streams.n_steps} at depth >= {depth}")
        self.digest = digest

    def with_combiner(self, combiner: str | Combiner) -> StreamSimulator:
        """The same simulator (models, digest, fleet) ranking with another combiner."""
        clone = copy.copy(self)
        clone.combiner = get_combiner(combiner) if isinstance(combiner, str) else combiner
        return clone

    def run(self, policy: RequestPolicy, budget: Budget | None = None, *, log: bool = False, horizon: int = 1,
            discount: float = 1.0, description: str | None = None) -> StreamRun:
        """Replay every stream under ``policy`` (and ``budget``); ``log`` also records counterfactual gains.

        A logged step's gain is the NDCG@k the request adds over the next ``horizon`` steps if the device
        keeps the new answer instead of the old one, step ``j`` weighted ``discount**j``
        (:class:`~tandem.routing.stream_state.StepLog`); ``horizon`` 1 is the step's own gain.
        """
        if horizon < 1 or not 0.0 < discount <= 1.0:
            raise ConfigError(f"StreamSimulator.run: need horizon >= 1 and 0 < discount <= 1, got {horizon}, "
                              f"{discount}")
        self._horizon, self._discount = int(horizon), float(discount)
        start = time.perf_counter()
        s = self.streams
        policy.reset()
        if budget is not None:
            budget.reset(len(self.fleet))
        link = Link.from_profiles(self.fleet)
        acc = Totals(s.n_steps, self.keep_steps, log)
        users = np.flatnonzero(s.steps_per_user > 0)
        chunks = [users[lo : lo + self.chunk_users] for lo in range(0, users.size, self.chunk_users)]
        with progress_bar(self.progress) as bar:
            task = bar.add_task(description or f"stream {policy.name}", total=s.n_steps)
            for chunk in chunks:
                chunk = chunk[np.argsort(-s.steps_per_user[chunk], kind="stable")]
                self._run_chunk(chunk, policy, budget, link, acc, lambda n: bar.advance(task, n))
        lat = acc.latency
        return StreamRun(
            policy=policy.name, n_steps=s.n_steps, requests=acc.requests,
            metrics={f"ndcg@{self.k}": acc.ndcg / max(s.n_steps, 1), f"hr@{self.k}": acc.hits / max(s.n_steps, 1)},
            bytes_up=link.ledger.total_bytes_up, bytes_down=link.ledger.total_bytes_down, cloud_flops=acc.flops,
            latency_p50_s=float(np.percentile(lat, 50)) if lat.size else 0.0,
            latency_p95_s=float(np.percentile(lat, 95)) if lat.size else 0.0,
            latency_mean_s=float(lat.mean()) if lat.size else 0.0, wall_s=time.perf_counter() - start,
            ranks=acc.ranks, requested=acc.requested, log=acc.step_log(),
        )

    @property
    def request_flops(self) -> float:
        """Cloud FLOPs of one request: the large model's pass plus the anticipatory answers, if any."""
        extra = self.anticipation.extra_flops if self.anticipation is not None else 0.0
        return self.cloud.flops_per_request + extra

    def response_bytes(self, n_candidates: np.ndarray) -> np.ndarray:
        """``int64 [B]`` bytes of answers with this many candidates (plus the anticipatory part, if any)."""
        a = self.anticipation
        return self.sizer.response_bytes(n_candidates, a.n_next if a else 0, a.next_len if a else 0)

    def clicks_since(self, rows_user: np.ndarray, pos: np.ndarray, made_at: np.ndarray) -> torch.Tensor:
        """``[B, M]`` the clicks since each held answer was made (positions ``made_at .. pos - 1``), 0-padded."""
        m = self.fresh_clicks
        cols = pos[:, None] - m + np.arange(m)[None, :]
        valid = (cols >= made_at[:, None]) & (cols >= 0)
        flat = self.streams.seqs.offsets[rows_user][:, None] + np.maximum(cols, 0)
        return torch.as_tensor(np.where(valid, self.streams.seqs.items[flat], 0))

    def held_answer(self, users: np.ndarray, steps: np.ndarray, pos: np.ndarray, ids: torch.Tensor,
                    logp: torch.Tensor, made_at: np.ndarray, seen: torch.Tensor) -> HeldAnswer:
        """What each device ranks with at ``steps``: the list made at position ``made_at`` (``-1``: none held),
        resolved to the cloud's conditional answer where the device's newest click was anticipated, with
        already-clicked items masked, the clicks since and the answer's age."""
        made_at = np.asarray(made_at, dtype=np.int64)
        has = made_at >= 0
        age = torch.as_tensor(np.where(has, np.minimum(pos - made_at, NO_CACHE_AGE), NO_CACHE_AGE), dtype=torch.float32)
        conditional = None
        if self.anticipation is not None:
            later = has & (pos > made_at)
            made_steps = np.where(later, steps - (pos - made_at), -1)
            last = np.where(later, self.streams.seqs.items[self.streams.seqs.offsets[users] + np.maximum(pos - 1, 0)],
                            0)
            ids, logp, conditional = self.anticipation.resolve(made_steps, last, ids, logp)
        logp = logp.masked_fill(seen.gather(1, ids), float("-inf"))
        return HeldAnswer(ids, logp, self.clicks_since(users, pos, np.maximum(made_at, 0)), self.item_vectors, age,
                          conditional)

    def rank_query(self, steps: np.ndarray, targets: torch.Tensor, held: HeldAnswer, seen: torch.Tensor) -> RankQuery:
        """The :class:`RankQuery` of ``steps`` holding ``held`` (``seen``: each row's clicked items)."""
        d, idx = self.digest, torch.as_tensor(steps)
        small = self.device.logits_at(self.streams, steps, held.ids) - d.logz[idx].view(-1, 1)
        small = small.masked_fill(seen.gather(1, held.ids) | (held.ids == 0), float("-inf"))
        return RankQuery(targets, d.target_logp[idx], d.top_logp[idx], d.n_unseen[idx], held, small)

    def _run_chunk(self, users: np.ndarray, policy: RequestPolicy, budget: Budget | None, link: Link,
                   acc: Totals, advance: Callable[[int], object]) -> None:
        s, n_cand = self.streams, self.cloud.n_candidates
        n_steps, first, devices = s.steps_per_user[users], s.step_offsets[users], users % len(self.fleet)
        st = ChunkState.start(s, users, n_cand)
        # log mode, horizon > 1: where the answer held before each of the last ``horizon`` decisions was made
        before = np.full((users.size, self._horizon), -1, dtype=np.int64) if acc.log_features is not None else None
        dev_seconds = self.device.flops_per_step / (self.fleet.compute_gflops[devices].astype(np.float64) * 1e9)
        for k in range(int(n_steps.max(initial=0))):
            m = int((n_steps > k).sum())
            steps = first[:m] + k
            pos = s.step_position[steps]
            targets = torch.as_tensor(s.targets(steps))
            seen = st.seen[:m]
            held = self._held_of(st, users[:m], steps, pos, seen)
            signals = self._signals(steps, held, st, m, devices[:m], k, pos)
            want = np.asarray(policy.decide(signals), dtype=bool)
            ask = want if budget is None else np.asarray(budget.filter(devices[:m], want, policy.scores(signals)))
            rows = np.flatnonzero(ask)
            if log_mode := acc.log_features is not None:
                new_ids, new_logp = self.cloud.answer(s, steps)
                answer = self.held_answer(users[:m], steps, pos, new_ids, new_logp, pos, seen)
                rank_stale = self.combiner.target_rank(self.rank_query(steps, targets, held, seen))
                rank_fresh = self.combiner.target_rank(self.rank_query(steps, targets, answer, seen))
                acc.add_log(feature_matrix(signals), steps, users[:m], policy.scores(signals))
                acc.add_gain(steps, ndcg_at(rank_fresh, self.k) - ndcg_at(rank_stale, self.k))
                if before is not None and self._horizon > 1:
                    before[:m, k % self._horizon] = np.where(st.has[:m].numpy(), st.made_at[:m], -1)
                    self._later_gains(users[:m], first[:m], steps, pos, k, before[:m], targets, seen, acc)
                rank = torch.where(torch.as_tensor(ask), rank_fresh, rank_stale)
                new_ids, new_logp = new_ids[rows], new_logp[rows]
            elif rows.size:
                new_ids, new_logp = self.cloud.answer(s, steps[rows])
            if rows.size:
                st.ids[rows], st.logp[rows] = new_ids, new_logp
                st.has[rows], st.age[rows], st.made_at[rows] = True, 0.0, pos[rows]
            if not log_mode:
                if rows.size:
                    held = self._held_of(st, users[:m], steps, pos, seen)
                rank = self.combiner.target_rank(self.rank_query(steps, targets, held, seen))
            latency = dev_seconds[:m].copy()
            if rows.size:
                n_finite = torch.isfinite(new_logp).sum(1).numpy()
                latency[rows] += link.charge_up(devices[rows], self.sizer.request_bytes(
                    np.minimum(pos[rows], self.cloud.max_len)))
                latency[rows] += self.request_flops / (self.cloud_gflops * 1e9)
                latency[rows] += link.charge_down(devices[rows], self.response_bytes(n_finite))
            acc.add(steps, rank, ask, latency, self.k, rows.size * self.request_flops)
            idx = torch.as_tensor(steps)
            st.after_step(m, targets, rank, self.k, self.unit_vectors, torch.as_tensor(signals.next_known),
                          normalized_surprise(self.digest.target_logp[idx], self.digest.n_unseen[idx]))
            advance(m)

    def _held_of(self, st: ChunkState, users: np.ndarray, steps: np.ndarray, pos: np.ndarray,
                 seen: torch.Tensor) -> HeldAnswer:
        m = users.size
        made_at = np.where(st.has[:m].numpy(), st.made_at[:m], -1)
        return self.held_answer(users, steps, pos, st.ids[:m], st.logp[:m], made_at, seen)

    def _later_gains(self, users: np.ndarray, first: np.ndarray, steps: np.ndarray, pos: np.ndarray, k: int,
                     before: np.ndarray, targets: torch.Tensor, seen: torch.Tensor, acc: Totals) -> None:
        """Credit decisions ``j = 1 .. horizon - 1`` steps ago: this step ranked with the answer made then
        against the answer held before it (both recomputed from the cloud, which is deterministic)."""
        s, n_cand = self.streams, self.cloud.n_candidates
        for j in range(1, min(self._horizon, k + 1)):
            made = before[:, (k - j) % self._horizon]
            ids, logp = self.cloud.answer(s, steps - j)
            new = self.held_answer(users, steps, pos, ids, logp, pos - j, seen)
            old_ids = torch.zeros(len(steps), n_cand, dtype=torch.int64)
            old_logp = torch.full((len(steps), n_cand), float("-inf"))
            rows = np.flatnonzero(made >= 0)
            if rows.size:
                old_ids[rows], old_logp[rows] = self.cloud.answer(s, first[rows] + made[rows] - s.start)
            old = self.held_answer(users, steps, pos, old_ids, old_logp, made, seen)
            gain = ndcg_at(self.combiner.target_rank(self.rank_query(steps, targets, new, seen)), self.k) - \
                ndcg_at(self.combiner.target_rank(self.rank_query(steps, targets, old, seen)), self.k)
            acc.add_gain(steps - j, gain, self._discount ** j)

    def _signals(self, steps: np.ndarray, held: HeldAnswer, st: ChunkState, m: int, devices: np.ndarray,
                 k: int, pos: np.ndarray) -> StepSignals:
        d, idx, held_logp = self.digest, torch.as_tensor(steps), held.logp
        held_values, held_pos = held_logp.topk(min(10, held_logp.shape[1]), dim=1)
        held_top = torch.where(torch.isfinite(held_values), held.ids.gather(1, held_pos), torch.zeros_like(held_pos))
        overlap = topk_overlap(d.top_ids[idx, :10], held_top, st.has[:m])
        return StepSignals(
            device=devices, step=np.full(m, k), history_len=pos, confidence=d.confidence[idx].numpy(),
            entropy=d.entropy[idx].numpy(), margin=d.margin[idx].numpy(), age=st.age[:m].numpy(),
            has_cache=st.has[:m].numpy(), overlap=overlap.numpy(), click_rr_cloud=st.rr_cloud[:m].numpy(),
            click_rr_device=st.rr_device[:m].numpy(), click_sim_cloud=st.sim_cloud[:m].numpy(),
            held_mass=held_logp.exp().sum(1).numpy(), held_top=held_values[:, 0].exp().numpy(),
            next_known=np.zeros(m) if held.conditional is None else held.conditional.numpy().astype(np.float64),
            cloud_edge=st.edge_ema[:m].numpy(), anticipated_share=st.hit_ema[:m].numpy(),
            click_surprise=st.surprise[:m].numpy(), mean_surprise=(st.surprise_sum[:m] / max(k, 1)).numpy())
