"""Options derived from a recipe config: one declaration per knob, given options override, mistakes are one line."""

from __future__ import annotations

from typing import Literal

import pytest
import typer
from pydantic import BaseModel, ConfigDict, Field
from typer.testing import CliRunner

from tandem.core.errors import ConfigError
from tandem.recipes._options import Overrides, RecipeConfig, build_config, cli, config_options, fail


class Inner(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    lr: float = Field(0.1, gt=0)
    """Step size."""


class Toy(RecipeConfig):
    epochs: int = Field(3, ge=1)
    """Training epochs."""
    rates: tuple[float, ...] = (0.1, 0.2)
    """Rates of the curve."""
    kind: Literal["a", "b"] = "a"
    """Which kind."""
    onnx: bool = True
    """Export to ONNX."""
    n_users: int = Field(10, json_schema_extra=cli("--users"))
    """Users."""
    extra: dict[str, int] = Field(default_factory=dict)
    """Free keywords."""
    inner: Inner = Field(default_factory=Inner)


app = typer.Typer()
SEEN: list[Toy] = []


@app.command()
@config_options(Toy)
def run(overrides: Overrides, base_epochs: int = 0) -> None:
    try:
        SEEN.append(build_config(Toy, overrides, base={"epochs": base_epochs} if base_epochs else None))
    except ConfigError as exc:
        raise fail(exc) from None


def invoke(*args: str) -> Toy:
    SEEN.clear()
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return SEEN[-1]


def test_every_field_is_an_option_with_its_docstring_as_help() -> None:
    out = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    for option, text in (("--epochs", "Training epochs."), ("--rates", "comma-separated"), ("--kind", "one of: a, b"),
                         ("--no-onnx", "Export to ONNX."), ("--users", "Users."), ("--inner-lr", "Step size.")):
        assert option in out and text in out


def test_given_options_override_defaults_and_a_base() -> None:
    assert invoke() == Toy()
    got = invoke("--epochs", "7", "--rates", "0.3,0.4", "--no-onnx", "--users", "5", "--extra", '{"k": 1}',
                 "--inner-lr", "0.5")
    assert (got.epochs, got.rates, got.onnx, got.n_users, got.extra, got.inner.lr) == (7, (0.3, 0.4), False, 5,
                                                                                       {"k": 1}, 0.5)
    assert invoke("--base-epochs", "9").epochs == 9 and invoke("--base-epochs", "9", "--epochs", "2").epochs == 2


def test_a_bad_value_is_one_line_naming_the_option() -> None:
    result = CliRunner().invoke(app, ["--epochs", "0", "--rates", "0.1,x", "--kind", "c"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    line = result.output.strip()
    assert "\n" not in line and line.startswith("error: --epochs:") and "--rates[1]" in line and "--kind" in line


def test_the_config_itself_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="Toy: epochs"):
        Toy(epochs=0)
    with pytest.raises(ConfigError, match="Extra inputs"):
        Toy(epochz=1)
    assert Toy().replace(epochs=4).epochs == 4
    with pytest.raises(ConfigError):
        Toy().replace(epochs=-1)


def test_a_config_file_lies_below_the_options(tmp_path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("epochs: 5\nrates: [0.3]\ninner: {lr: 0.2}\n")
    got = invoke("--config", str(path), "--epochs", "6")
    assert (got.epochs, got.rates, got.inner.lr) == (6, (0.3,), 0.2)
    path.write_text("epochs: 0\n")
    result = CliRunner().invoke(app, ["--config", str(path)])
    assert result.exit_code == 2 and result.output.strip() == f"error: {path}: invalid config: epochs: Input should " \
                                                               "be greater than or equal to 1 (got 0)"
    path.write_text("- 1\n")
    result = CliRunner().invoke(app, ["--config", str(path)])
    assert result.exit_code == 2 and "mapping" in result.output and "Traceback" not in result.output
