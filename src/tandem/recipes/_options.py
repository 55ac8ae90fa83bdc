"""Command-line options derived from a recipe's pydantic config: every knob is declared once, in the config.

A recipe's config is a :class:`RecipeConfig` (pydantic; frozen; unknown fields rejected; every mistake a
one-line :class:`~tandem.core.errors.ConfigError`). Its typer command takes the config's fields as options
through :func:`config_options`, which adds one ``--field-name`` option per field (the field's description is
the help, the field's default is shown, the value reaches the config unchanged), and hands the command the
options the user gave as ``overrides``. :func:`build_config` validates ``base`` (a preset or a YAML file's
content) with the overrides on top::

    @app.command()
    @config_options(BenchConfig)
    def bench(overrides: Overrides, as_json: bool = False) -> None:
        config = build_config(BenchConfig, overrides)

Field types map to options as follows: scalars and paths as themselves; ``Literal`` choices as text checked
by the config; tuples and lists of scalars as comma-separated text (``--rates 0.1,0.2``; empty text: empty);
dicts as JSON text; nested configs as ``--<field>-<subfield>`` options. A field's ``json_schema_extra`` made
by :func:`cli` may rename its option (keeping a command's historic name), add an environment variable, or
make it the positional argument.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import re
import types
import typing
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import click
import typer
import typer.core
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

from tandem.core.errors import ConfigError


class Overrides(dict[str, Any]):
    """The options a user gave, as a nested mapping of config fields (``{"dataset": {"name": "wine"}}``).

    ``file`` / ``file_values``: the YAML file given with ``--config`` and its fields, which lie between a
    command's preset and the options.
    """

    file: Path | None = None
    file_values: dict[str, Any] | None = None

_log = logging.getLogger(__name__)
C = TypeVar("C", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])
_SCALARS = (bool, int, float, str, Path)


def fail(exc: Exception | str, code: int = 2) -> typer.Exit:
    """Print a user's mistake as one ``error:`` line on stderr (no traceback); the command exits with ``code``.

    The message is printed verbatim: rich markup in it (``pip install 'tandem-ml[ray]'``) is escaped.
    """
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
    return typer.Exit(code=code)


def describe_os_error(exc: OSError) -> str:
    """One line for a file the command could not read or write: which path, why, what to do."""
    where = f" {exc.filename}" if exc.filename else ""
    why = exc.strerror or type(exc).__name__
    hint = {PermissionError: "choose a path you may write to (or fix its permissions)",
            FileNotFoundError: "check the path",
            IsADirectoryError: "give a file, not a folder",
            NotADirectoryError: "a part of the path is a file, not a folder"}.get(type(exc), "check the path")
    return f"cannot use{where}: {why}; {hint}"


def check_writable(path: Path, option: str = "--out") -> Path:
    """Fail now, before any work, when ``path`` (a file to write) cannot be written; returns it.

    Creates the missing parent folders (as the write would) and a probe file beside the target, removed at
    once; an existing file is not touched. The error names the option and says what to do.
    """
    import tempfile

    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{option}: {path} is a folder; give a file path such as {path / 'result.json'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tandem-probe-"):
            pass
    except OSError as exc:
        raise ConfigError(f"{option}: cannot write {path} ({exc.strerror or type(exc).__name__}); "
                          "choose a folder you may write to") from None
    return path


class GuardedGroup(typer.core.TyperGroup):
    """The top-level ``tandem`` group: any error below it is one ``error:`` line, never a traceback.

    A user's mistake (:class:`TandemError`, a file that cannot be read or written) exits with 2; anything
    else is reported as an internal error (exit 1) with a pointer to ``--debug``, which re-raises instead.
    Ctrl-C exits with 130.
    """

    def invoke(self, ctx: Any) -> Any:
        from tandem.core.errors import TandemError

        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, click.exceptions.ClickException, click.exceptions.Exit):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            if isinstance(exc, TandemError):
                raise fail(exc) from None
            if isinstance(exc, OSError) and exc.filename:
                raise fail(describe_os_error(exc)) from None
            _log.debug("internal error", exc_info=True)
            raise fail(f"internal error: {type(exc).__name__}: {exc} (rerun with 'tandem --debug ...' to see "
                       "the traceback, and please report it)", code=1) from None
        except KeyboardInterrupt:
            raise fail("interrupted", code=130) from None


def cli(*names: str, envvar: str | None = None, argument: bool = False) -> dict[str, Any]:
    """``json_schema_extra`` of a field whose option differs from ``--field-name``.

    ``names``: the option's names (``"--users"``, ``"-o"``); ``envvar``: read it from this environment
    variable when the option is absent; ``argument``: a positional argument instead of an option.
    """
    return {"cli": {"names": list(names), "envvar": envvar, "argument": argument}}


def describe_errors(exc: ValidationError, names: Mapping[tuple[str, ...], str] | None = None,
                    given: Collection[tuple[str, ...]] | None = None) -> str:
    """One line for every problem pydantic found: ``where: what (got value)``.

    ``names`` maps field paths to the options that set them, used for the fields in ``given`` (the options
    the user typed; all when None) and for missing required values, so a user reads what they can type.
    """
    problems = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        missing = err["type"] == "missing"
        where = ".".join(loc)
        for n in range(len(loc), 0, -1):  # an element of a list field: the option, then the element's index
            if loc[:n] in (names or {}) and (given is None or loc[:n] in given or missing):
                where = (names or {})[loc[:n]] + "".join(f"[{part}]" for part in loc[n:])
                break
        if missing and names:
            problems.append(f"Missing {'option' if where.startswith('-') else 'argument'} {where}")
            continue
        message = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        shown = f" (got {got!r})" if loc and not isinstance(got, dict) else ""
        problems.append(f"{where}: {message}{shown}" if where else message)
    return "; ".join(problems)


class RecipeConfigError(ConfigError):
    """A recipe config rejected its values; keeps pydantic's findings so a command can name its options."""

    def __init__(self, model: str, validation: ValidationError) -> None:
        super().__init__(f"{model}: {describe_errors(validation)}")
        self.validation = validation


class RecipeConfig(BaseModel):
    """Base of every recipe config: frozen, strict about unknown fields, its attribute docstrings as help.

    A bad value raises :class:`ConfigError` (one line naming the field), never a pydantic traceback.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise RecipeConfigError(type(self).__name__, exc) from None

    def replace(self, **changes: Any) -> typing.Self:
        """A validated copy with ``changes`` applied (``model_copy`` would skip validation)."""
        return type(self)(**{**dict(self), **changes})

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values of every field (recorded in result files)."""
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class _CliSpec:
    """What :func:`cli` put in a field's ``json_schema_extra``."""

    names: tuple[str, ...] = ()
    envvar: str | None = None
    argument: bool = False


def _spec(info: FieldInfo) -> _CliSpec:
    extra = info.json_schema_extra
    raw = extra.get("cli") if isinstance(extra, dict) else None
    if not isinstance(raw, dict):
        return _CliSpec()
    names, envvar = raw.get("names") or [], raw.get("envvar")
    return _CliSpec(tuple(str(n) for n in names) if isinstance(names, list) else (),
                    envvar if isinstance(envvar, str) else None, bool(raw.get("argument")))


@dataclass(frozen=True)
class _Option:
    """One derived option: the config field path it sets, how typer declares it, how its text is parsed."""

    path: tuple[str, ...]
    param: str
    name: str
    annotation: Any
    parse: Callable[[Any], Any]


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else annotation), True
    return annotation, False


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _identity(value: Any) -> Any:
    return value


def _split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _json(option: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"expected JSON, got {text!r} ({exc.msg})", param_hint=option) from None

    return parse


def _help(info: FieldInfo, default: Any, extra: str = "") -> str:
    """The field's description (its first sentence when long) and its default."""
    text = " ".join((info.description or "").split())
    if len(text) > 160:
        text = re.split(r"(?<=[.;])\s", text, maxsplit=1)[0]
    if default is not None and not callable(default) and default is not ...:
        shown = ",".join(map(str, default)) if isinstance(default, tuple | list) else default
        text += f" (default: {shown})"
    return (text + extra).strip()


def _default(info: FieldInfo) -> Any:
    if info.default_factory is not None:
        try:
            return info.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return None
    return None if info.is_required() else info.default


def _options(model: type[BaseModel], prefix: tuple[str, ...] = (), exclude: Collection[str] = ()
             ) -> list[tuple[_Option, Any]]:
    """The options of every field of ``model`` (nested configs flattened), each with its typer declaration."""
    out: list[tuple[_Option, Any]] = []
    for name, info in model.model_fields.items():
        if name in exclude:
            continue
        path = (*prefix, name)
        annotation, _ = _unwrap_optional(info.annotation)
        if _is_model(annotation):
            out += _options(annotation, path)
            continue
        spec = _spec(info)
        option = spec.names[0] if spec.names else f"--{'-'.join(path).replace('_', '-')}"
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        default = _default(info)
        parse: Callable[[Any], Any] = _identity
        extra, kind = "", annotation
        if spec.argument and origin is list:
            kind = annotation
        elif origin is Literal:
            kind, extra = str, f" (one of: {', '.join(map(str, args))})"
        elif origin in (tuple, list) and all(a in _SCALARS or a is Ellipsis for a in args):
            kind, parse, extra = str, _split_list, " (comma-separated)"
        elif origin is dict or annotation is dict:
            kind, parse, extra = str, _json(option), " (JSON)"
        elif annotation not in _SCALARS:
            raise TypeError(f"config_options: {model.__name__}.{name} has a type no option can carry: {annotation}")
        declaration: Any
        if spec.argument:
            declaration = typer.Argument(help=_help(info, default, extra), show_default=False)
        else:
            names = list(spec.names or [option])
            if kind is bool and "/" not in names[0]:  # --flag/--no-flag, as typer's own bool options read
                names[0] = f"{names[0]}/--no-{names[0].removeprefix('--')}"
            declaration = typer.Option(*names, envvar=spec.envvar,
                                       help=_help(info, default, extra), show_default=False)
        param = "_".join(path)
        shown = param.upper() if spec.argument else option
        out.append((_Option(path, param, shown, kind, parse), Annotated[kind | None, declaration]))
    return out


def option_names(model: type[BaseModel]) -> dict[tuple[str, ...], str]:
    """Field path -> the option that sets it (for error messages)."""
    return {opt.path: opt.name for opt, _ in _options(model)}


def _read_yaml(path: Path) -> dict[str, Any]:
    """A YAML file of config fields; a user's mistake is a one-line usage error."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint="--config") from None
    except yaml.YAMLError as exc:
        raise typer.BadParameter(f"{path} is not valid YAML: {exc}", param_hint="--config") from None
    if not isinstance(raw, dict):
        raise typer.BadParameter(f"{path}: the top level must be a mapping of fields", param_hint="--config")
    return raw


_FILE_OPTION = Annotated[Path | None, typer.Option(
    "--config", help="YAML file of config fields (a run's settings in one place); options given beside it win.")]


def config_options(model: type[BaseModel], *, param: str = "overrides", exclude: Collection[str] = (),
                   file_option: bool = True) -> Callable[[F], F]:
    """Decorate a typer command: add one option per field of ``model`` and pass the given ones as ``param``.

    The command keeps its own parameters (output paths, ``--json``, ``--progress``); its ``param`` parameter
    receives an :data:`Overrides` mapping of only the options the user set (every derived option defaults
    to "not given", so a preset or a config file below it keeps its values). ``exclude``: top-level fields the
    command sets itself (e.g. one it loops over). ``file_option``: add ``--config FILE`` (a YAML file of fields,
    below the options). Apply it below ``@app.command()``.
    """
    derived = _options(model, exclude=exclude)

    def decorate(command: F) -> F:
        signature = inspect.signature(command, eval_str=True)
        if param not in signature.parameters:
            raise TypeError(f"config_options: {command.__name__} has no parameter {param!r}")
        own = [p for p in signature.parameters.values() if p.name != param]
        clash = {p.name for p in own} & {opt.param for opt, _ in derived}
        if clash:
            raise TypeError(f"config_options: {command.__name__} repeats config fields {sorted(clash)}")
        added = [inspect.Parameter(opt.param, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotated)
                 for opt, annotated in derived]
        if file_option:
            added.insert(0, inspect.Parameter("config_file", inspect.Parameter.KEYWORD_ONLY, default=None,
                                              annotation=_FILE_OPTION))
        own_positional = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            overrides = Overrides()
            path = kwargs.pop("config_file", None) if file_option else None
            if path is not None:
                overrides.file, overrides.file_values = path, _read_yaml(path)
            for opt, _ in derived:
                value = kwargs.pop(opt.param, None)
                if value is None:
                    continue
                node: dict[str, Any] = overrides
                for key in opt.path[:-1]:
                    node = node.setdefault(key, {})
                node[opt.path[-1]] = opt.parse(value)
            return command(**kwargs, **{param: overrides})

        params = sorted([*own_positional, *added], key=lambda p: p.default is not inspect.Parameter.empty)
        wrapper.__signature__ = inspect.Signature(params, return_annotation=signature.return_annotation)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        del wrapper.__wrapped__  # typer must read the derived signature, not the command's own
        return typing.cast(F, wrapper)

    return decorate


def _merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        below = out.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping | type(None)):
            out[key] = _merge(below or {}, value)
        elif isinstance(value, Mapping) and isinstance(below, BaseModel):
            out[key] = _merge(dict(below), value)
        else:
            out[key] = value
    return out


def build_config(model: type[C], overrides: Mapping[str, Any] | None = None, *,
                 base: Mapping[str, Any] | None = None, where: str = "") -> C:
    """Validate ``base`` with ``overrides`` on top into ``model``; any problem is one :class:`ConfigError`
    naming the option (or ``where``: the config file) and the field."""
    file_values = getattr(overrides, "file_values", None) or {}
    if file_values and not where:
        where = str(getattr(overrides, "file", ""))
    values = _merge(_merge(base or {}, file_values), overrides or {})
    try:
        # a RecipeConfig validates in __init__ (pydantic would wrap its error if model_validate called it)
        return model(**values) if issubclass(model, RecipeConfig) else model.model_validate(values)
    except (ValidationError, RecipeConfigError) as error:
        exc = error.validation if isinstance(error, RecipeConfigError) else error
        names = option_names(model)
        given = [path for path in names if _given(overrides or {}, path)]
        prefix = f"{where}: invalid config: " if where else ""
        raise ConfigError(prefix + describe_errors(exc, names, given)) from None


def _given(overrides: Mapping[str, Any], path: tuple[str, ...]) -> bool:
    node: Any = overrides
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return False
        node = node[key]
    return True
