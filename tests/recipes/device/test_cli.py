"""``tandem device`` parses its options and fails clearly."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from typer.testing import CliRunner

from tandem.recipes.device.cli import device_app


def test_device_command_needs_an_enrollment_key() -> None:
    result = CliRunner().invoke(device_app, ["--server", "http://127.0.0.1:9", "--devices", "2"], env={})
    assert result.exit_code == 2 and "enroll-key" in result.output


def test_device_command_reports_unreachable_server() -> None:
    args = ["--server", "http://127.0.0.1:9", "--enroll-key", "k", "--duration", "1", "--retries", "0"]
    result = CliRunner().invoke(device_app, args, env={})
    assert result.exit_code == 1 and '"devices": 0' in result.output and "ConnectError" in result.output


def test_device_command_refuses_a_state_dir_that_is_a_file(tmp_path) -> None:
    path = tmp_path / "a-file"
    path.write_text("x")
    args = ["--server", "http://127.0.0.1:9", "--enroll-key", "k", "--state-dir", str(path)]
    result = CliRunner().invoke(device_app, args, env={})
    assert result.exit_code == 2 and "--state-dir" in result.output and "not a folder" in result.output
