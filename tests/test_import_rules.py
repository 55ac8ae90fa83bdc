"""The import rules of DESIGN.md's layout, read from the source with ``ast`` (nothing is imported).

Rules:

* library packages (everything under ``src/tandem`` except ``recipes/`` and ``cli.py``) never import
  ``tandem.recipes``;
* ``tandem.core`` imports no other tandem package, not even by string;
* ``tandem.transport`` does not import ``tandem.federated``;
* ``tandem.server`` and ``tandem.device`` import neither each other nor ``tandem.sim``;
* ``examples/`` import only the public face: ``tandem`` or a top-level package ``tandem.<package>``, no
  private ``_x`` name, no ``recipes``, no ``*_bench``.

An import is an ``import`` / ``from ... import`` statement (relative ones resolved, ``TYPE_CHECKING`` ones
included), a string argument of ``importlib.import_module`` / ``importlib.util.find_spec`` / ``__import__``,
and any other string that is a whole dotted ``tandem.x.y`` path (lazy registries); in ``core`` any string
naming ``tandem.<package>`` outside a docstring counts.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "tandem"
EXAMPLES = ROOT / "examples"

#: (importer, imported) pairs that break a rule today: being removed in the one-system redesign; this set must
#: end empty. The importer is a module (``tandem.x.y``) or an example's path; the imported side is a package
#: (``tandem.x``), or for examples the module they import.
KNOWN_VIOLATIONS: set[tuple[str, str]] = {
    ("examples/delivery/personalize_recommender.py", "tandem.delivery.hypernet"),
    ("examples/delivery/personalize_recommender.py", "tandem.delivery.mask"),
    ("examples/delivery/personalize_recommender.py", "tandem.delivery.personal"),
    ("examples/delivery/personalize_recommender.py", "tandem.delivery.quantize"),
    ("examples/delivery/personalize_recommender.py", "tandem.delivery.seqrec_distill"),
    ("examples/delivery/personalize_recommender.py", "tandem.models.seqrec"),
    ("examples/delivery/personalize_recommender.py", "tandem.models.seqrec_data"),
    ("examples/delivery/personalize_recommender.py", "tandem.models.seqrec_eval"),
    ("examples/delivery/personalize_recommender.py", "tandem.models.seqrec_training"),
    ("examples/routing/collaborative_inference.py", "tandem.models.seqrec"),
    ("examples/routing/collaborative_inference.py", "tandem.models.seqrec_training"),
    ("examples/routing/collaborative_inference.py", "tandem.routing.policies"),
    ("examples/text/cascade_quickstart.py", "tandem.text.synthetic"),
    ("examples/trust/defended_fedavg.py", "tandem.federated.attacks"),
    ("examples/trust/defended_fedavg.py", "tandem.federated.compression"),
    ("examples/trust/defended_fedavg.py", "tandem.federated.hooks"),
    ("examples/trust/defended_fedavg.py", "tandem.federated.robust"),
    ("examples/trust/defended_fedavg.py", "tandem.federated.strategy"),
}

_LOADERS = {"import_module", "find_spec", "__import__"}
_DOTTED = re.compile(r"^tandem(\.[A-Za-z_]\w*)+(:[\w.]+)?$")
_MENTION = re.compile(r"\btandem\.[A-Za-z_]\w*")
_PUBLIC_PACKAGES = frozenset(p.name for p in SRC.iterdir() if (p / "__init__.py").exists()) - {"recipes"}


def module_name(path: Path) -> str:
    """``src/tandem/sim/engine.py`` -> ``tandem.sim.engine`` (a package's ``__init__`` is the package)."""
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def imports(source: str, module: str, *, is_package: bool = False, strict_strings: bool = False) -> Iterator[str]:
    """Every tandem module ``source`` imports (dotted names; ``from a import b`` yields ``a.b``)."""
    tree = ast.parse(source)
    package = module if is_package else module.rpartition(".")[0]
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in _LOADERS and node.args and isinstance(node.args[0], ast.Constant):
                yield str(node.args[0].value)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if _DOTTED.match(node.value):
                yield node.value.partition(":")[0]
            elif strict_strings:
                yield from _MENTION.findall(node.value)


def _package(name: str) -> str:
    return ".".join(name.split(".")[:2])


def library_violations() -> Iterator[tuple[str, str, str]]:
    """``(importer, imported package, rule)`` for every rule broken under ``src/tandem``."""
    for path in sorted(SRC.rglob("*.py")):
        importer = module_name(path)
        own = _package(importer)
        if own == "tandem.recipes" or importer == "tandem.cli":
            continue
        names = imports(path.read_text(), importer, is_package=path.name == "__init__.py",
                        strict_strings=own == "tandem.core")
        for imported in sorted({_package(n) for n in names if n.startswith("tandem.")} - {own}):
            if imported == "tandem.recipes":
                yield importer, imported, "library code never imports tandem.recipes"
            if own == "tandem.core":
                yield importer, imported, "tandem.core imports no other tandem package, not even by string"
            if own == "tandem.transport" and imported == "tandem.federated":
                yield importer, imported, "tandem.transport does not import tandem.federated"
            if own in ("tandem.server", "tandem.device") and imported in ("tandem.server", "tandem.device",
                                                                           "tandem.sim"):
                yield importer, imported, "tandem.server and tandem.device import neither each other nor tandem.sim"


def example_violations() -> Iterator[tuple[str, str, str]]:
    """``(example path, imported module, rule)`` for every non-public import in ``examples/``."""
    for path in sorted(EXAMPLES.rglob("*.py")):
        importer = str(path.relative_to(ROOT))
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                pairs = [(alias.name, "") for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                pairs = [(node.module or "", alias.name) for alias in node.names]
            else:
                continue
            for module, name in pairs:
                parts = module.split(".")
                if parts[0] != "tandem":
                    continue
                if len(parts) > 2 or (len(parts) == 2 and parts[1] not in _PUBLIC_PACKAGES):
                    yield importer, module, "examples import only tandem or a top-level tandem.<package>"
                elif name.startswith("_") or name == "recipes" or name.endswith("_bench"):
                    yield importer, f"{module}.{name}", "examples import only public names"


def _found() -> dict[tuple[str, str], str]:
    return {(a, b): rule for a, b, rule in (*library_violations(), *example_violations())}


def test_no_import_breaks_the_layout_rules() -> None:
    new = {pair: rule for pair, rule in _found().items() if pair not in KNOWN_VIOLATIONS}
    assert not new, "imports that break DESIGN.md's rules:\n" + "\n".join(
        f"  {a} -> {b}: {rule}" for (a, b), rule in sorted(new.items()))


def test_known_violations_still_occur() -> None:
    """A fixed violation must leave KNOWN_VIOLATIONS, so the set only shrinks."""
    stale = KNOWN_VIOLATIONS - set(_found())
    assert not stale, "fixed; remove from KNOWN_VIOLATIONS:\n" + "\n".join(f"  {a} -> {b}" for a, b in sorted(stale))


def test_the_scanner_sees_every_kind_of_import() -> None:
    source = '''
"""Docstrings naming tandem.sim are not imports."""
import importlib
from typing import TYPE_CHECKING
from . import wire
from ..federated.strategy import Strategy
import tandem.sim.engine as engine
if TYPE_CHECKING:
    from tandem.server import app
TABLE = ("tandem.recipes.fl.cli", "fl")
importlib.import_module("tandem.device.agent")
importlib.util.find_spec("tandem.report")
MESSAGE = "see tandem.routing for more"
'''
    found = set(imports(source, "tandem.transport.base"))
    assert {"tandem.transport.wire", "tandem.federated.strategy.Strategy", "tandem.sim.engine", "tandem.server.app",
            "tandem.recipes.fl.cli", "tandem.device.agent", "tandem.report"} <= found
    assert not any(name.startswith("tandem.routing") for name in found)
    assert "tandem.routing" in set(imports(source, "tandem.core.x", strict_strings=True))
    assert module_name(SRC / "sim" / "__init__.py") == "tandem.sim"
