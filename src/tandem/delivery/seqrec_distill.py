"""Distilling a large sequential recommender into a device-sized one, at every position of every sequence.

The student trains with :func:`tandem.models.seqrec_training.fit_seqrec` on the usual windows; at each
labelled position the loss mixes Hinton et al.'s soft-target term (2015; :func:`distillation_loss`) with
the ground-truth cross-entropy, so the student learns the teacher's whole next-item distribution, not only
the one item that happened (logit distillation for recommenders as in Kang et al., "DE-RRD", CIKM 2020,
and the ranking-distillation line of Tang & Wang, KDD 2018). The teacher runs in the cloud, under
``no_grad``, on the same batch.

Before that, the student's item table can start from the teacher's (:func:`transfer_item_embeddings`):
the teacher's item vectors projected on their top principal directions, so the item-item geometry the large
model learned — most of a recommender's knowledge on a long-tail catalogue, where the device model sees each
rare item a handful of times — is there from the first step (representation transfer, the "hint" of
FitNets, Romero et al., ICLR 2015, on the embedding layer).
"""

from __future__ import annotations

from typing import Any

import torch

from tandem.core.errors import ConfigError
from tandem.data.sequences import SequenceDataset
from tandem.delivery.distill import distillation_loss
from tandem.models.seqrec import SequentialRecommender
from tandem.models.seqrec_data import SeqRecSplit
from tandem.models.seqrec_training import FitResult, fit_seqrec, position_logits


def top_k_distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor,
                            top_k: int = 50, temperature: float = 1.0, alpha: float = 0.5) -> torch.Tensor:
    """Ranking-focused distillation: cross-entropy of the student (softmax over all items) against the
    teacher's distribution renormalized over its ``top_k`` items, mixed with the label cross-entropy. Pure.

    A student a tenth the teacher's size cannot copy the teacher's whole distribution over a large catalogue;
    only the head matters for HR/NDCG@k, so the soft labels are restricted to it (after Tang & Wang's ranking
    distillation, KDD 2018, which also distils the teacher's top-K only).
    """
    if top_k < 1 or temperature <= 0 or not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"top_k_distillation_loss: need top_k >= 1, temperature > 0, 0 <= alpha <= 1; got "
                          f"{top_k}, {temperature}, {alpha}")
    values, items = teacher_logits.topk(min(top_k, teacher_logits.shape[1]), dim=1)
    return top_k_head_loss(student_logits, values, items, targets, temperature, alpha)


def top_k_head_loss(student_logits: torch.Tensor, values: torch.Tensor, items: torch.Tensor, targets: torch.Tensor,
                    temperature: float = 1.0, alpha: float = 0.5) -> torch.Tensor:
    """:func:`top_k_distillation_loss` from the teacher's head only: its top logits ``values [P, k]`` and their
    item ids ``items [P, k]`` (what :class:`TeacherHeads` keeps). Pure."""
    soft = torch.softmax(values / temperature, dim=1)
    log_student = torch.log_softmax(student_logits / temperature, dim=1)
    soft_loss = -(soft * log_student.gather(1, items)).sum(1).mean() * temperature**2
    if alpha >= 1.0:
        return alpha * soft_loss
    return alpha * soft_loss + (1.0 - alpha) * torch.nn.functional.cross_entropy(student_logits, targets)


class TeacherHeads:
    """The frozen teacher's top-``k`` (logits, item ids) at every labelled position, computed once per window.

    Training windows are the same every epoch and the teacher is frozen in eval mode (no dropout), so its
    output at a position depends only on the window. Scoring every item with a large teacher is the dominant
    cost of distillation on a big catalogue (Beauty: 12k items x 128 dims per position, several times the
    student's own cost); remembering the head after the first epoch makes later epochs cost what training the
    student alone costs, with identical results. Memory: ``k`` (float32, int64) pairs per labelled position.
    A window's key is its non-padding items (left padding may be trimmed differently in different batches).
    """

    def __init__(self, teacher: SequentialRecommender, top_k: int) -> None:
        if top_k < 1:
            raise ConfigError(f"TeacherHeads: top_k must be >= 1, got {top_k}")
        self.teacher, self.top_k = teacher.eval(), top_k
        self.memo: dict[bytes, tuple[torch.Tensor, torch.Tensor]] = {}
        self.hits = self.misses = 0

    def __call__(self, inputs: torch.Tensor, where: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(values [P, k], items [P, k])`` at the ``where`` positions, in the row-major order of ``where``."""
        keys = [_window_key(row, mask) for row, mask in zip(inputs, where, strict=True)]
        todo = [i for i, key in enumerate(keys) if key not in self.memo]
        self.hits, self.misses = self.hits + len(keys) - len(todo), self.misses + len(todo)
        if todo:
            rows = torch.as_tensor(todo)
            with torch.no_grad():
                logits = position_logits(self.teacher, inputs[rows], where[rows])
                values, items = logits.topk(min(self.top_k, logits.shape[1]), dim=1)
            counts = where[rows].sum(1).tolist()
            for i, v, it in zip(todo, values.split(counts), items.split(counts), strict=True):
                self.memo[keys[i]] = (v, it)
        parts = [self.memo[key] for key in keys]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def _window_key(row: torch.Tensor, labelled: torch.Tensor) -> bytes:
    """Key of one window: its columns from the first that holds an item or a label (left padding trimmed)."""
    used = torch.nonzero((row > 0) | labelled)
    start = int(used[0]) if len(used) else row.numel()
    return row[start:].numpy().tobytes() + labelled[start:].numpy().tobytes()


class SeqRecDistillationLoss:
    """A :data:`PositionLoss` that distils ``teacher`` (frozen, eval mode) into the model being trained.

    ``heads`` is the :class:`TeacherHeads` memory when the loss distils the teacher's top-k, else None.
    """

    def __init__(self, teacher: SequentialRecommender, temperature: float, alpha: float,
                 heads: TeacherHeads | None) -> None:
        self.teacher, self.temperature, self.alpha, self.heads = teacher, temperature, alpha, heads

    def __call__(self, model: SequentialRecommender, inputs: torch.Tensor, targets: torch.Tensor,
                 where: torch.Tensor) -> torch.Tensor:
        if self.heads is not None:
            values, items = self.heads(inputs, where)
            return top_k_head_loss(position_logits(model, inputs, where), values, items, targets, self.temperature,
                                   self.alpha)
        with torch.no_grad():
            teacher_logits = position_logits(self.teacher, inputs, where)
        student_logits = position_logits(model, inputs, where)
        return distillation_loss(student_logits, teacher_logits, targets, temperature=self.temperature,
                                 alpha=self.alpha)


def seqrec_distillation_loss(teacher: SequentialRecommender, temperature: float = 2.0, alpha: float = 0.5,
                             top_k: int | None = None) -> SeqRecDistillationLoss:
    """A :data:`PositionLoss` that distils ``teacher`` (frozen, eval mode) into the model being trained.

    ``top_k=None`` is Hinton's full-distribution KD; an int uses :func:`top_k_distillation_loss`, with the
    teacher's head remembered per training window (:class:`TeacherHeads`), so the teacher runs once per
    window rather than once per window and epoch.
    """
    if temperature <= 0 or not 0.0 <= alpha <= 1.0 or (top_k is not None and top_k < 1):
        raise ConfigError(f"seqrec_distillation_loss: need temperature > 0, 0 <= alpha <= 1 and top_k >= 1 or "
                          f"None; got {temperature}, {alpha}, {top_k}")
    teacher.eval()
    heads = None if top_k is None else TeacherHeads(teacher, top_k)
    return SeqRecDistillationLoss(teacher, temperature, alpha, heads)


def transfer_item_embeddings(teacher: SequentialRecommender, student: SequentialRecommender) -> float:
    """Set the student's item vectors to the teacher's projected on their top principal directions.

    With ``E`` the teacher's item table (padding row excluded) and ``V_d`` its top ``d`` right singular
    vectors (``d`` = the student's width), the student's rows become ``E V_d``: the best rank-``d``
    approximation of the teacher's item-item inner products (no centring, so the popularity direction
    stays). The padding row stays 0. Returns the fraction of the table's energy kept (``sum s_i^2`` of the
    top ``d`` over all). In place; ConfigError when the catalogues differ or the student is wider.
    """
    source, target = teacher.item_embedding.weight, student.item_embedding.weight
    if source.shape[0] != target.shape[0]:
        raise ConfigError(f"transfer_item_embeddings: teacher has {source.shape[0]} item rows, student "
                          f"{target.shape[0]}")
    if target.shape[1] > source.shape[1]:
        raise ConfigError(f"transfer_item_embeddings: the student's items are {target.shape[1]}-dim, wider than "
                          f"the teacher's {source.shape[1]}")
    with torch.no_grad():
        table = source[1:].detach().double()
        _, singular, right = torch.linalg.svd(table, full_matrices=False)
        width = target.shape[1]
        target[1:] = (table @ right[:width].T).to(target.dtype)
        target[0].zero_()
        energy = singular.square()
    return float(energy[:width].sum() / energy.sum())


def distill_seqrec(teacher: SequentialRecommender, student: SequentialRecommender, train: SequenceDataset,
                   split: SeqRecSplit | None = None, *, temperature: float = 2.0, alpha: float = 0.5,
                   top_k: int | None = None, transfer_items: bool = False, **fit_kwargs: Any) -> FitResult:
    """Train ``student`` in place to imitate ``teacher`` (plus the labels); keyword args go to ``fit_seqrec``.

    ``transfer_items`` first starts the student's item table from the teacher's
    (:func:`transfer_item_embeddings`); ``alpha=0`` then trains on the labels alone from that start.
    """
    if teacher.n_items != student.n_items:
        raise ConfigError(f"distill_seqrec: teacher scores {teacher.n_items} items, student {student.n_items}")
    if teacher.max_len < student.max_len:
        raise ConfigError(f"distill_seqrec: teacher reads {teacher.max_len} items, fewer than the student's "
                          f"{student.max_len}")
    if transfer_items:
        transfer_item_embeddings(teacher, student)
    if alpha == 0.0:  # the labels alone: the teacher is not run at all
        return fit_seqrec(student, train, split, **{"description": "distill", **fit_kwargs})
    for p in teacher.parameters():
        p.requires_grad_(False)
    try:
        loss = seqrec_distillation_loss(teacher, temperature, alpha, top_k)
        return fit_seqrec(student, train, split, loss_fn=loss, **{"description": "distill", **fit_kwargs})
    finally:
        for p in teacher.parameters():
            p.requires_grad_(True)
