import pytest
import torch

from tandem.core.errors import ConfigError, PayloadError
from tandem.delivery.hypernet import ParameterGenerator, default_generated, device_scores, params_payload
from tandem.delivery.personal import fit_personalizer
from tandem.models.ranking import next_item_examples
from tandem.models.seqrec import build_seqrec


def test_default_targets_are_the_last_ffn_output_and_final_norm(trained_pair):
    _, device = trained_pair
    assert default_generated(device) == ["blocks.0.ffn_out.weight", "blocks.0.ffn_out.bias", "final_norm.weight",
                                         "final_norm.bias"]


def test_untrained_generator_gives_every_user_the_shared_model_then_learns(trained_pair, tiny_split):
    cloud, device = trained_pair
    generator = ParameterGenerator(device, cloud, user_dim=16, rank=2)
    history = torch.as_tensor(tiny_split.test_histories[:4])
    with torch.no_grad():
        torch.testing.assert_close(generator(history), device(history))
    histories, targets = next_item_examples(list(tiny_split.train), tiny_split.max_len)
    fit = fit_personalizer(generator, histories, targets, epochs=2, batch_size=64, lr=1e-2)
    assert fit["loss"][-1] < fit["loss"][0]
    with torch.no_grad():
        generated = generator.generate(history)
    assert not torch.allclose(generated["final_norm.weight"][0], generated["final_norm.weight"][1])


def test_device_scores_from_the_wire_match_the_cloud(trained_pair, tiny_split):
    cloud, device = trained_pair
    generator = ParameterGenerator(device, cloud, user_dim=16, rank=2)
    for head in generator.heads.values():  # non-zero generated updates
        torch.nn.init.normal_(head[-1].weight, std=0.1)
    history = torch.as_tensor(tiny_split.test_histories[:2])
    with torch.no_grad():
        params, cloud_side = generator.generate(history), generator(history)
    for b in range(2):
        payload = params_payload({n: p[b] for n, p in params.items()}, codec="fp32")
        torch.testing.assert_close(device_scores(device, payload, history[b : b + 1])[0], cloud_side[b])


def test_bad_inputs_are_rejected(trained_pair):
    cloud, device = trained_pair
    with pytest.raises(ConfigError, match="rank"):
        ParameterGenerator(device, cloud, rank=0)
    with pytest.raises(ConfigError, match="vmap"):
        ParameterGenerator(build_seqrec("gru4rec", device.n_items, device.max_len), cloud, targets=["project.bias"])
    with pytest.raises(PayloadError, match="does not fit"):
        device_scores(device, params_payload({"final_norm.weight": torch.ones(3)}), torch.ones(1, 4, dtype=torch.long))
