"""``tandem round start|status|close``: an admin opens, watches and closes federated rounds on a running server.

Each command talks to the server's admin API (``/v1/admin/rounds``, ``/v1/admin/policy``) with the admin
token (``--admin-token`` or ``TANDEM_ADMIN_TOKEN``). Options are the fields of the configs below; ``--json``
prints the server's answer for machines. A refusal (no live device, a round already open, a bad token) is
one ``error:`` line and exit code 2; nothing changes on the server.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from pydantic import Field

from tandem.core.errors import ConfigError, TandemError
from tandem.recipes._options import Overrides, RecipeConfig, build_config, cli, config_options, fail

round_app = typer.Typer(add_completion=False, no_args_is_help=True,
                        help="Open, watch and close federated rounds on a running server (admin).")
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the server's answer as JSON.")]


class AdminConfig(RecipeConfig):
    """Where the server is and the admin token."""

    server: str = "http://127.0.0.1:8000"
    """Server URL."""
    admin_token: str = Field("", repr=False, json_schema_extra=cli("--admin-token", envvar="TANDEM_ADMIN_TOKEN"))
    """Admin bearer token."""


class RoundStartConfig(AdminConfig):
    """What the round is (``POST /v1/admin/rounds``)."""

    model: str = Field("small", pattern=r"^[A-Za-z0-9_.\-]{1,128}$")
    """Model id the round trains."""
    strategy: str = "fedavg"
    """Aggregation strategy (fedavg, fedprox, scaffold, fedadam, ...)."""
    strategy_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments of the strategy."""
    objective: dict[str, Any] = Field(default_factory=dict)
    """Local training of each device (e.g. '{"lr": 0.1, "epochs": 2}')."""
    devices: list[int] = Field(default_factory=list)
    """Exactly these device ids (default: live devices)."""
    clients: int | None = Field(None, ge=1)
    """Clients per round (default: every live device)."""
    over_select: float = Field(1.0, ge=1.0, le=10.0)
    """Select ceil(clients x this) live devices to absorb dropouts."""
    quorum: float | None = Field(None, gt=0.0, le=1.0)
    """Close once this fraction of the selected devices answered (default: all)."""
    deadline: float = Field(60.0, gt=0, le=7 * 86400)
    """Close after this many seconds with the updates that came."""
    min_updates: int = Field(1, ge=0)
    """Fewer updates at the close publish no new version."""


class RoundStatusConfig(AdminConfig):
    """Which round to show."""

    round: int | None = Field(None, ge=1, json_schema_extra=cli(argument=True))
    """The round (default: the open one and the newest ones)."""
    last: int = Field(10, ge=1, le=1000)
    """How many of the newest rounds to list."""
    wait_closed: int | None = Field(None, ge=1)
    """Wait until this many rounds have closed (or --timeout), then show them."""
    timeout: float = Field(300.0, gt=0)
    """Seconds --wait-closed waits at most."""


class RoundCloseConfig(AdminConfig):
    """Which round to close."""

    round: int | None = Field(None, ge=1, json_schema_extra=cli(argument=True))
    """The round (default: the open one)."""


def _client(config: AdminConfig) -> Any:
    from tandem.transport.httpclient import ApiClient

    if not config.admin_token:
        raise ConfigError("give --admin-token (or set TANDEM_ADMIN_TOKEN)")
    return ApiClient(config.server, config.admin_token, retries=1, timeout_s=30.0)


def _when(at: float | None) -> str:
    return "-" if at is None else time.strftime("%H:%M:%S", time.localtime(at))


def round_lines(rows: list[dict[str, Any]]) -> list[str]:
    """A plain table of rounds, one line each (newest first)."""
    head = f"{'round':>5}  {'status':<6}  {'opened by':<9}  {'opened':<8}  {'selected':>8}  {'quorum':>6}  " \
           f"{'updates':>7}  {'closed by':<9}  {'took':>7}  version"
    lines = [head]
    now = time.time()
    for r in rows:
        updates = r["n_updates"] if r["n_updates"] is not None else len(r["received"])
        took = (r["closed_at"] or now) - r["opened_at"]
        version = f"v{r['result_version']}" if r["result_version"] is not None else "-"
        if r["status"] == "open":
            version = f"deadline in {max(0.0, r['deadline'] - now):.0f} s"
        lines.append(
            f"{r['round']:>5}  {r['status']:<6}  {r['opened_by']:<9}  {_when(r['opened_at']):<8}  "
            f"{len(r['devices']):>8}  {r['quorum'] if r['quorum'] is not None else '-':>6}  {updates:>7}  "
            f"{r['closed_by'] or '-':<9}  {took:>6.1f}s  {version}"
        )
    return lines


def policy_line(policy: dict[str, Any]) -> str:
    """How rounds open on this server, what it waits for, and how many devices are live."""
    p = policy["policy"]
    if p is None:
        how = "rounds open on admin calls (tandem round start)"
    else:
        when = ([f"every {p['every_s']:g} s"] if p["every_s"] is not None else []) + [f">= {p['min_live']} live"]
        limit = f", {p['max_rounds']} rounds in all" if p["max_rounds"] is not None else ""
        how = f"policy: {' and '.join(when)}{limit} ({policy['status'] or 'starting'})"
    return f"{how}; live devices {policy['live_devices']} (lease {policy['lease_s']:g} s); rounds {policy['rounds']}"


@round_app.command()
@config_options(RoundStartConfig)
def start(overrides: Overrides, as_json: JsonFlag = False) -> None:
    """Open a round now over the live devices (or --devices)."""
    try:
        config = build_config(RoundStartConfig, overrides)
        body = {
            "model_id": config.model, "strategy": config.strategy, "strategy_kwargs": config.strategy_kwargs,
            "objective": config.objective, "devices": config.devices or None, "clients_per_round": config.clients,
            "over_selection": config.over_select, "quorum": config.quorum, "deadline_s": config.deadline,
            "min_updates": config.min_updates,
        }
        row = _client(config).request("POST", "/v1/admin/rounds", json=body).json()
    except TandemError as exc:
        raise fail(exc) from None
    if as_json:
        typer.echo(json.dumps(row, indent=1))
        return
    typer.echo(f"round {row['round']} open: {len(row['devices'])} devices selected, closes at {row['quorum']} "
               f"updates or in {config.deadline:g} s")


@round_app.command()
@config_options(RoundStatusConfig)
def status(overrides: Overrides, as_json: JsonFlag = False) -> None:
    """Show how rounds open, the live devices, and the open and newest rounds (or one round)."""
    try:
        config = build_config(RoundStatusConfig, overrides)
        api = _client(config)
        if config.wait_closed is not None:
            _wait_closed(api, config.wait_closed, config.timeout)
        policy = api.request("GET", "/v1/admin/policy").json()
        if config.round is not None:
            rows = [api.request("GET", f"/v1/admin/rounds/{config.round}").json()]
        else:
            rows = api.request("GET", "/v1/admin/rounds", params={"limit": config.last}).json()
    except TandemError as exc:
        raise fail(exc) from None
    if as_json:
        typer.echo(json.dumps({"policy": policy, "rounds": rows}, indent=1))
        return
    typer.echo(policy_line(policy))
    typer.echo("\n".join(round_lines(rows)) if rows else "no rounds yet")


def _wait_closed(api: Any, n: int, timeout: float) -> None:
    end = time.monotonic() + timeout
    while True:
        closed = api.request("GET", "/v1/admin/policy").json()["last_closed_round"] or 0
        if closed >= n:
            return
        if time.monotonic() > end:
            raise ConfigError(f"--wait-closed {n}: only {closed} rounds closed within --timeout {timeout:g} s")
        time.sleep(0.5)


@round_app.command()
@config_options(RoundCloseConfig)
def close(overrides: Overrides, as_json: JsonFlag = False) -> None:
    """Close a round now (the open one by default): aggregate what came and publish the new version."""
    try:
        config = build_config(RoundCloseConfig, overrides)
        api = _client(config)
        rnd = config.round
        if rnd is None:
            rnd = api.request("GET", "/v1/admin/rounds/current").json()["round"]
        row = api.request("POST", f"/v1/admin/rounds/{rnd}/close").json()
    except TandemError as exc:
        raise fail(exc) from None
    if as_json:
        typer.echo(json.dumps(row, indent=1))
        return
    published = f"published v{row['result_version']}" if row["result_version"] is not None else "no new version"
    typer.echo(f"round {row['round']} closed with {row['n_updates']} updates: {published}")
