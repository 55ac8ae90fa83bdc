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
