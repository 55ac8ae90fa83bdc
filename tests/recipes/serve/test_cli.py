"""``tandem serve``: its options come from ServeConfig, and it says where the live dashboard is."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from typer.testing import CliRunner

from tandem.recipes.serve.cli import dashboard_hint, serve_app


def test_serve_command_lists_its_options() -> None:
    result = CliRunner().invoke(serve_app, ["--help"])
    assert result.exit_code == 0 and "--db" in result.output and "--port" in result.output


def test_serve_rejects_a_bad_option_in_one_line() -> None:
    result = CliRunner().invoke(serve_app, ["--port", "0", "--log-level", "loud"], env={})
    assert result.exit_code == 2 and "--port" in result.output and "--log-level" in result.output
    assert "Traceback" not in result.output


def test_serve_prints_where_the_dashboard_is() -> None:
    generated = dashboard_hint("0.0.0.0", 8000, "tok-123", shown=True)
    assert generated.startswith("live dashboard: http://127.0.0.1:8000/dashboard#token=tok-123")
    chosen = dashboard_hint("10.0.0.5", 9000, "secret", shown=False)  # a token the operator set is not echoed
    assert "secret" not in chosen and "http://10.0.0.5:9000/dashboard#token=<admin token>" in chosen
    assert "TANDEM_ADMIN_TOKEN" in chosen
    assert "http://[::1]:8000/dashboard#" in dashboard_hint("::1", 8000, "t", shown=True)


def test_round_options_make_the_servers_round_policy() -> None:
    from tandem.recipes.serve.cli import RoundOptions, round_policy

    assert round_policy(RoundOptions()) is None  # rounds open on admin calls only
    policy = round_policy(RoundOptions(min_live=20, clients=16, over_select=1.25, quorum=0.8, limit=3,
                                       objective={"lr": 0.1}))
    assert policy is not None and policy.needed_live == 20 and policy.max_rounds == 3
    assert (policy.spec.clients_per_round, policy.spec.over_selection, policy.spec.quorum) == (16, 1.25, 0.8)
    assert round_policy(RoundOptions(every=5.0)).every_s == 5.0


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--round-clients", "4"], "--round-every SECONDS and/or --round-min-live"),
        (["--round-min-live", "2", "--round-strategy", "nope"], "strategy 'nope'"),
        (["--round-min-live", "2", "--round-over-select", "2"], "over_selection needs clients_per_round"),
        (["--round-every", "0"], "--round-every"),
        (["--round-min-live", "2", "--round-quorum", "1.5"], "--round-quorum"),
        (["--round-min-live", "2", "--round-objective", "{nope"], "expected JSON"),
        (["--lease", "0"], "--lease"),
    ],
)
def test_bad_round_options_are_one_line(args, said) -> None:
    result = CliRunner().invoke(serve_app, args, env={})
    assert result.exit_code == 2 and said in result.output and "Traceback" not in result.output, result.output
