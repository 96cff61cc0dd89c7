"""The package's three layers, as README's "Developing" section draws them: the model and the
decision in ``minimake/``, running recipes in ``minimake.execution``, what users see in
``minimake.view``. The two sub-packages never import each other, and of the core only the
assembly (engine, cli) imports them: the decision (graph, stale rule, plan, scheduler, journal)
drives runners and reporters through the protocols it declares itself."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "minimake"
# minimake: __init__'s lazy names; results_command: --results, a dry run read back for people.
ASSEMBLY = {"minimake.engine", "minimake.cli", "minimake.results_command", "minimake"}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: Path, typing_too: bool = False) -> set[str]:
    """The minimake modules ``path`` imports when it runs (``if TYPE_CHECKING:`` left out,
    unless ``typing_too``)."""
    tree = ast.parse(path.read_text())
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only |= {id(child) for child in ast.walk(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only and not typing_too:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("minimake"):
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("minimake")}
    return found


def _layer(module: str) -> str:
    for layer in ("minimake.execution", "minimake.view"):
        if module == layer or module.startswith(layer + "."):
            return layer
    return "minimake"


IMPORTS = {_module(path): _runtime_imports(path) for path in PACKAGE.rglob("*.py")}
NAMES = {_module(path): _runtime_imports(path, typing_too=True) for path in PACKAGE.rglob("*.py")}


def test_the_sub_packages_never_import_each_other() -> None:
    crossing = {
        (module, imported)
        for module, imports in IMPORTS.items()
        for imported in imports
        if {_layer(module), _layer(imported)} == {"minimake.execution", "minimake.view"}
    }
    assert crossing == set()


def test_only_the_assembly_imports_the_sub_packages() -> None:
    reaching = {
        (module, imported)
        for module, imports in IMPORTS.items()
        if _layer(module) == "minimake" and module not in ASSEMBLY
        for imported in imports
        if _layer(imported) != "minimake"
    }
    assert reaching == set()


def test_the_core_names_nothing_of_the_view() -> None:
    # Not even in a type: the values the core hands out (a BuildResult's recorded Run, a
    # trial's Row) are the core's, which the views read.
    naming = {
        (module, imported)
        for module, imports in NAMES.items()
        if _layer(module) == "minimake" and module not in ASSEMBLY
        for imported in imports
        if _layer(imported) == "minimake.view"
    }
    assert naming == set()


def test_the_check_sees_every_module() -> None:
    # A layer test that found no modules would pass vacuously.
    assert {"minimake.scheduler", "minimake.execution.spawn", "minimake.view.ui"} <= set(IMPORTS)
    assert "minimake.execution.recipes" in IMPORTS["minimake.execution.runners"]


def test_the_execution_layer_never_imports_the_assembly_above_it() -> None:
    """execution.assemble builds runners from a prepared build, which it only names in type
    hints: the engine imports the execution layer, never the other way round."""
    reaching = {
        (module, imported)
        for module, imports in IMPORTS.items()
        if _layer(module) == "minimake.execution"
        for imported in imports
        if imported in ASSEMBLY - {"minimake"}
    }
    assert reaching == set()
    assert "minimake.execution.assemble" in IMPORTS["minimake.engine"]
