import pytest
import torch

from tandem.core.errors import ConfigError
from tandem.delivery.seqrec_distill import (
    TeacherHeads,
    distill_seqrec,
    seqrec_distillation_loss,
    top_k_distillation_loss,
    transfer_item_embeddings,
)
from tandem.models.seqrec import build_seqrec
from tandem.models.seqrec_training import full_softmax_loss, position_logits


def test_distilled_student_moves_towards_the_teacher(tiny_split, trained_pair):
    teacher, _ = trained_pair
    student = build_seqrec("sasrec", tiny_split.n_items, tiny_split.max_len, "small", dim=8)
    history = torch.as_tensor(tiny_split.test_histories)

    def gap() -> float:
        with torch.no_grad():
            return float(torch.nn.functional.kl_div(student(history)[:, 1:].log_softmax(-1),
                                                    teacher(history)[:, 1:].log_softmax(-1),
                                                    log_target=True, reduction="batchmean"))

    before = gap()
    result = distill_seqrec(teacher, student, tiny_split.train, tiny_split, epochs=4, batch_size=32, lr=5e-3,
                            alpha=1.0, temperature=1.0)
    assert gap() < 0.5 * before and result.epochs_run >= 1
    assert all(p.requires_grad for p in teacher.parameters())  # the teacher is handed back unfrozen


def test_alpha_zero_is_the_plain_loss(trained_pair):
    teacher, student = trained_pair
    inputs, targets = torch.tensor([[0, 3, 4, 5]]), torch.tensor([[0, 4, 5, 6]])
    where = targets > 0
    mixed = seqrec_distillation_loss(teacher, alpha=0.0)(student, inputs, targets[where], where)
    assert float(mixed) == pytest.approx(float(full_softmax_loss(student, inputs, targets[where], where)), rel=1e-5)


def test_mismatched_models_are_config_errors(tiny_split, trained_pair):
    teacher, _ = trained_pair
    with pytest.raises(ConfigError, match="items"):
        distill_seqrec(teacher, build_seqrec("sasrec", 7, tiny_split.max_len), tiny_split.train)
    with pytest.raises(ConfigError, match="reads"):
        distill_seqrec(build_seqrec("sasrec", tiny_split.n_items, 3), teacher, tiny_split.train)
    with pytest.raises(ConfigError):
        seqrec_distillation_loss(teacher, temperature=0)


def test_top_k_loss_is_soft_cross_entropy_on_the_teachers_head():
    torch.manual_seed(0)
    student, teacher, targets = torch.randn(3, 8), torch.randn(3, 8), torch.tensor([1, 2, 3])
    full = top_k_distillation_loss(student, teacher, targets, top_k=8, temperature=1.0, alpha=1.0)
    expected = -(teacher.softmax(1) * student.log_softmax(1)).sum(1).mean()
    assert float(full) == pytest.approx(float(expected), rel=1e-5)
    head = top_k_distillation_loss(student, teacher, targets, top_k=2, temperature=1.0, alpha=1.0)
    values, items = teacher.topk(2, dim=1)
    manual = -(values.softmax(1) * student.log_softmax(1).gather(1, items)).sum(1).mean()
    assert float(head) == pytest.approx(float(manual), rel=1e-5)
    hard = top_k_distillation_loss(student, teacher, targets, top_k=2, alpha=0.0)
    assert float(hard) == pytest.approx(float(torch.nn.functional.cross_entropy(student, targets)), rel=1e-5)
    with pytest.raises(ConfigError):
        top_k_distillation_loss(student, teacher, targets, top_k=0)


def test_top_k_distillation_trains_the_student(tiny_split, trained_pair):
    teacher, _ = trained_pair
    student = build_seqrec("sasrec", tiny_split.n_items, tiny_split.max_len, "small", dim=8)
    result = distill_seqrec(teacher, student, tiny_split.train, None, top_k=10, temperature=1.0, epochs=3,
                            batch_size=32, lr=5e-3)
    assert result.curve[-1]["loss"] < result.curve[0]["loss"]


def test_remembered_teacher_heads_give_the_same_loss_and_skip_the_teacher(trained_pair):
    teacher, student = trained_pair
    inputs = torch.tensor([[0, 0, 3, 4, 5], [0, 1, 2, 3, 4]])
    targets = torch.tensor([[0, 0, 4, 5, 6], [0, 2, 3, 4, 5]])
    where = targets > 0
    remembered = seqrec_distillation_loss(teacher, temperature=2.0, alpha=0.7, top_k=5)
    with torch.no_grad():
        t_logits = position_logits(teacher, inputs, where)
        s_logits = position_logits(student, inputs, where)
    expected = top_k_distillation_loss(s_logits, t_logits, targets[where], top_k=5, temperature=2.0, alpha=0.7)
    first = remembered(student, inputs, targets[where], where)
    assert float(first) == pytest.approx(float(expected), rel=1e-5)
    # the same windows again, with one padding column trimmed and the rows swapped: served from memory
    swapped, swapped_targets = inputs[[1, 0], 1:], targets[[1, 0], 1:]
    again = remembered(student, swapped, swapped_targets[swapped_targets > 0], swapped_targets > 0)
    heads = remembered.heads
    assert heads.misses == 2 and heads.hits == 2 and len(heads.memo) == 2
    with torch.no_grad():
        direct = top_k_distillation_loss(position_logits(student, swapped, swapped_targets > 0),
                                         position_logits(teacher, swapped, swapped_targets > 0),
                                         swapped_targets[swapped_targets > 0], top_k=5, temperature=2.0, alpha=0.7)
    assert float(again) == pytest.approx(float(direct), rel=1e-5)


def test_teacher_heads_reject_a_bad_k(trained_pair):
    with pytest.raises(ConfigError):
        TeacherHeads(trained_pair[0], 0)


def test_item_transfer_keeps_the_teachers_item_geometry_at_the_students_width(trained_pair, tiny_split):
    teacher, _ = trained_pair
    student = build_seqrec("sasrec", tiny_split.n_items, tiny_split.max_len, "small", dim=4)
    energy = transfer_item_embeddings(teacher, student)
    source = teacher.item_embedding.weight.detach()[1:].double()
    target = student.item_embedding.weight.detach()[1:].double()
    singular = torch.linalg.svdvals(source)
    assert energy == pytest.approx(float(singular[:4].square().sum() / singular.square().sum()), rel=1e-5)
    assert 0.0 < energy < 1.0 and bool((student.item_embedding.weight[0] == 0).all())
    # E V V^T E^T is the best rank-4 approximation of the teacher's item-item inner products (Eckart-Young)
    error = torch.linalg.matrix_norm(source @ source.T - target @ target.T)
    assert float(error) == pytest.approx(float(singular[4:].pow(4).sum().sqrt()), rel=1e-4)


def test_item_transfer_rejects_a_wider_student_or_another_catalogue(trained_pair, tiny_split):
    teacher, _ = trained_pair
    with pytest.raises(ConfigError, match="wider"):
        transfer_item_embeddings(teacher, build_seqrec("sasrec", tiny_split.n_items, tiny_split.max_len, "small",
                                                       dim=teacher.dim * 2))
    with pytest.raises(ConfigError, match="item rows"):
        transfer_item_embeddings(teacher, build_seqrec("sasrec", 7, tiny_split.max_len))


def test_distill_with_transfer_starts_from_the_teachers_items(trained_pair, tiny_split):
    teacher, _ = trained_pair
    student = build_seqrec("sasrec", tiny_split.n_items, tiny_split.max_len, "small", dim=4)
    reference = build_seqrec("sasrec", tiny_split.n_items, tiny_split.max_len, "small", dim=4)
    transfer_item_embeddings(teacher, reference)
    distill_seqrec(teacher, student, tiny_split.train, None, epochs=1, batch_size=32, lr=1e-9, transfer_items=True)
    torch.testing.assert_close(student.item_embedding.weight, reference.item_embedding.weight, atol=1e-6, rtol=0)
