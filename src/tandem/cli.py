"""The ``tandem`` command: the only place (with recipes) that reads options from the command line.

Thin: each command is a recipe's (``tandem.recipes.<name>.cli``), whose options come from the recipe's
pydantic config. Here: ``tandem demo`` (the main job on the embedded default, from
:mod:`tandem.recipes.demo.cli`), ``tandem datasets`` (which data sets are found, where, with their counts),
``tandem --version``, and the recipe sub-commands of :data:`SUBCOMMANDS` such as ``tandem fl``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tandem import __version__
from tandem.recipes._options import GuardedGroup

app = typer.Typer(
    name="tandem",
    cls=GuardedGroup,
    help="Device-cloud collaborative learning and inference with large and small models.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"tandem {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback of an error instead of its one-line message.")
    ] = False,
) -> None:
    """Device-cloud collaborative learning and inference with large and small models."""
    from tandem.models.progress import progress_renderer
    from tandem.recipes.progress import rich_progress

    ctx.with_resource(progress_renderer(rich_progress))  # library progress draws as rich bars for this command


def _stdout_console() -> Console:
    """Console for results: the terminal's width, or a wide page when piped so tables are not squeezed."""
    return Console() if sys.stdout.isatty() else Console(width=160)


#: The one name of each data set (what ``--dataset`` takes and README says) -> its folder under the data root.
DATASET_NAMES = {"movielens-100k": "ml-100k", "amazon-s3rec": "beauty", "sst2": "sst2", "uci-adult": "uci-adult",
                 "uci-bank-marketing": "uci-bank-marketing"}


def dataset_name(folder: str) -> str:
    """The name a user types for the data set in ``folder`` (``sklearn-digits`` -> ``digits``)."""
    return DATASET_NAMES.get(folder, folder.removeprefix("sklearn-"))


@app.command()
def datasets(
    root: Annotated[Path | None, typer.Option(help="Data root (default: $TANDEM_DATA or ../shared/data).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    verify: Annotated[bool, typer.Option(help="Check every file's sha256 (slower).")] = False,
) -> None:
    """List the data sets tandem can load: their names, where they were found, their verified counts."""
    from rich.table import Table

    from tandem.data.catalog import describe_datasets
    from tandem.data.paths import ENV_VAR, candidate_roots

    infos = describe_datasets(root, verify=verify)  # a bad --root is a one-line error (GuardedGroup)
    if as_json:
        typer.echo(json.dumps([{**info.to_dict(), "name": dataset_name(info.name), "folder": info.name}
                               for info in infos], indent=2))
        return
    table = Table(title="tandem data sets (use the name with --dataset)")
    for column in ("name", "found", "counts", "sha256", "path"):
        table.add_column(column)
    for info in infos:
        counts = ", ".join(f"{k} {v:,}" for k, v in info.counts.items())
        sha = {None: "-", True: "ok", False: "MISMATCH"}[info.sha256_ok]
        where = str(info.path) if info.path else ("shipped with scikit-learn" if info.name.startswith("sklearn-")
                                                  else f"(no folder {info.name}/)")
        table.add_row(dataset_name(info.name), "yes" if info.found else "no", counts, sha, where)
    out = _stdout_console()
    out.print(table)
    if root is not None:
        looked = [str(root)]
    else:
        import os

        looked = [f"${ENV_VAR}={os.environ[ENV_VAR]}"] if os.environ.get(ENV_VAR) else \
            [f"${ENV_VAR} (unset)", *map(str, candidate_roots(None, dict(os.environ)))]
    out.print("looked in: " + ", ".join(looked), highlight=False, markup=False)
    out.print("to add a data set: put its folder (named as in the path column) under one of those places, set "
              f"${ENV_VAR} or pass --root; or give your own file to a bench with --dataset PATH.",
              highlight=False, markup=False)


#: Recipe sub-apps: (module, typer app attribute, command name, help). Each is attached once its
#: module exists, so a recipe can land without touching this file's logic.
SUBCOMMANDS = (
    ("tandem.recipes.fl.cli", "fl_app", "fl", "Federated learning (device -> cloud)."),
    ("tandem.recipes.delivery.cli", "delivery_app", "delivery", "Cloud -> device delivery and its benchmarks."),
    ("tandem.recipes.routing.cli", "route_app", "route", "Cloud-for-device routing: policies, split computing."),
    ("tandem.recipes.serve.cli", "serve_app", "serve", "Run the cloud server."),
    ("tandem.recipes.device.cli", "device_app", "device", "Run device agents against a server."),
    ("tandem.recipes.round.cli", "round_app", "round", "Open, watch and close federated rounds (admin)."),
    ("tandem.recipes.report.cli", "report_app", "report", "Turn result JSON files into one HTML report."),
    ("tandem.recipes.text.cli", "text_app", "text", "Large-small collaboration on text: SST-2 cascade."),
)


def _attach_subcommands() -> None:
    """Attach ``tandem demo`` and the direction sub-apps whose modules are present."""
    from tandem.recipes.demo.cli import demo

    app.command()(demo)
    for module_name, attribute, command, help_text in SUBCOMMANDS:
        if importlib.util.find_spec(module_name) is None:
            continue
        sub_app = getattr(importlib.import_module(module_name), attribute)
        app.add_typer(sub_app, name=command, help=help_text)


_attach_subcommands()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
