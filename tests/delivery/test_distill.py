import numpy as np
import pytest
import torch
from torch.nn import functional as F

from tandem.core.errors import ConfigError
from tandem.delivery.distill import distill_next_item, distillation_loss
from tandem.models import WindowRecommender
from tandem.models.ranking import next_item_examples


def test_loss_is_zero_kl_when_student_equals_teacher_with_alpha_one():
    logits = torch.randn(4, 6)
    loss = distillation_loss(logits, logits.clone(), None, temperature=2.0, alpha=1.0)
    assert loss.item() == pytest.approx(0, abs=1e-6)


def test_loss_mixes_soft_and_hard_terms_by_alpha():
    student, teacher, targets = torch.randn(3, 5), torch.randn(3, 5), torch.tensor([0, 1, 2])
    soft = distillation_loss(student, teacher, None, temperature=1.0, alpha=1.0)
    hard = F.cross_entropy(student, targets)
    mixed = distillation_loss(student, teacher, targets, temperature=1.0, alpha=0.25)
    assert mixed.item() == pytest.approx(0.25 * soft.item() + 0.75 * hard.item(), rel=1e-5)


def test_masked_columns_are_ignored():
    student, teacher = torch.randn(2, 4), torch.randn(2, 4)
    student[:, 0] = teacher[:, 0] = float("-inf")
    assert torch.isfinite(distillation_loss(student, teacher, None, alpha=1.0))


@pytest.mark.parametrize(("temperature", "alpha"), [(0.0, 0.5), (1.0, 1.5)])
def test_bad_hyper_parameters_are_rejected(temperature, alpha):
    with pytest.raises(ConfigError, match="distillation_loss"):
        distillation_loss(torch.zeros(1, 2), torch.zeros(1, 2), None, temperature, alpha)


def test_student_moves_towards_the_teacher():
    rng = np.random.default_rng(0)
    histories, targets = next_item_examples([rng.integers(1, 30, 40) for _ in range(20)], window=4)
    torch.manual_seed(0)
    teacher, student = WindowRecommender(30, 16, 16, 4).eval(), WindowRecommender(30, 4, 8, 4)
    hist = torch.as_tensor(histories)

    def gap() -> float:
        with torch.no_grad():
            return float(distillation_loss(student.eval()(hist), teacher(hist), None, alpha=1.0))

    before = gap()
    distill_next_item(teacher, student, histories, targets, alpha=1.0, epochs=20, lr=1e-2, batch_size=64)
    assert gap() < 0.5 * before
