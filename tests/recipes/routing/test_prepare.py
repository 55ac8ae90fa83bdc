import pytest

from tandem.core.errors import ConfigError
from tandem.data.synthetic import make_synthetic_fleet
from tandem.recipes.routing.prepare import RouteBenchConfig, trained_model


def test_a_cached_model_is_reused_only_under_the_same_training_budget(tmp_path) -> None:
    train = make_synthetic_fleet(n_users=60, n_items=30, n_clusters=3, seq_len=8, min_seq_len=4, seed=0).sequences
    base = {"dataset": "synthetic", "epochs": 1, "max_len": 8, "cache_dir": str(tmp_path)}
    first, info = trained_model(RouteBenchConfig(**base, max_train_seconds=600.0), train, "small")
    again, info_again = trained_model(RouteBenchConfig(**base, max_train_seconds=600.0), train, "small")
    other, info_other = trained_model(RouteBenchConfig(**base, max_train_seconds=1200.0), train, "small")
    assert not info["cached"] and info_again["cached"] and not info_other["cached"]
    for a, b in zip(first.state_dict().values(), again.state_dict().values(), strict=True):
        assert a.equal(b)
    assert other.config() == first.config()
    assert len(list(tmp_path.glob("*.pt"))) == 2


def test_bad_bench_settings_are_named() -> None:
    with pytest.raises(ConfigError, match="fusion_age_fit"):
        RouteBenchConfig(fusion_age_fit="sometimes")
    with pytest.raises(ConfigError, match="value_members"):
        RouteBenchConfig(value_members=0)
    with pytest.raises(ConfigError, match="anticipate"):
        RouteBenchConfig(anticipate=-1)
    with pytest.raises(ConfigError, match="anticipate_pool"):
        RouteBenchConfig(anticipate_pool=10, anticipate_len=30)
