"""The product (`shipshape`) stands apart from its sandbox (`shipshape_sandbox`).

- No module of the product imports the sandbox, at any depth (inside functions too): the product's
  runtime requirements and its Airflow image carry no fake.
- The product's imports form no circle: at module level, nor counting the imports made inside functions.
- pyproject.toml's dependency groups (the product, the `sandbox` extra, the `dev` extra) are the groups
  requirements.txt installs, pin for pin, so the two cannot drift apart.
- The sandbox's CLI commands reach the product's CLI through the `shipshape.commands` entry points.

Read with `ast`, nothing is imported: a test that imported the product would prove nothing about code
paths it did not take.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRODUCT = REPO / "include" / "shipshape"
SANDBOX = "shipshape_sandbox"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO / "include").with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported module, line, at module level) for every import in the file; `from a import b` counts
    as importing `a.b` too (b may be a module), relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    # `if TYPE_CHECKING:` and try/except at module level still run (or matter) at import time
    for node in tree.body:
        if isinstance(node, ast.If | ast.Try):
            top_level |= {id(n) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((module, node.lineno, id(node) in top_level))
            found += [(f"{module}.{alias.name}", node.lineno, id(node) in top_level) for alias in node.names]
    return found


def product_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PRODUCT.rglob("*.py"))}


def test_no_product_module_imports_the_sandbox():
    offenders = [f"{path.relative_to(REPO)}:{line} imports {module}"
                 for path in product_modules().values()
                 for module, line, _ in imports(path)
                 if module == SANDBOX or module.startswith(SANDBOX + ".")]
    assert not offenders, "the product must not import the sandbox:\n" + "\n".join(offenders)
    # nor name it to import it by string (importlib.import_module("shipshape_sandbox..."), runpy, -m)
    by_string = [f"{path.relative_to(REPO)}:{node.lineno}" for path in product_modules().values()
                 for node in ast.walk(ast.parse(path.read_text()))
                 if isinstance(node, ast.Constant) and isinstance(node.value, str)
                 and re.fullmatch(rf"{SANDBOX}(\.\w+)*", node.value)]
    assert not by_string, f"the product names the sandbox as a module: {by_string}"


def _graph(module_level_only: bool) -> dict[str, set[str]]:
    modules = product_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for module, _, top in imports(path):
            if module_level_only and not top:
                continue
            # the longest product module the import names (`from shipshape import warehouse` -> shipshape.warehouse)
            target = next((m for m in (module, module.rpartition(".")[0]) if m in modules), None)
            if target is not None and target != name:
                graph[name].add(target)
    # importing a.b.c runs a/__init__ and a/b/__init__ first: a package's own modules reaching its
    # __init__ is not a circle worth reporting, so edges into a module's own ancestors are dropped
    return {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_product_imports_form_no_circle_at_module_level():
    assert _cycles(_graph(module_level_only=True)) == []


def test_the_product_imports_form_no_circle_even_inside_functions():
    # cli.py and sandbox/dump.py used to import each other, one of them inside a function
    assert _cycles(_graph(module_level_only=False)) == []


def test_the_check_sees_a_circle_and_a_sandbox_import(tmp_path, monkeypatch):
    """The checks above can fail: a made-up package with a circle and a lazy sandbox import is caught."""
    package = tmp_path / "include" / "shipshape"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from shipshape import b\n")
    (package / "b.py").write_text("def f():\n    from shipshape_sandbox.server import Sandbox\n    from . import a\n")
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PRODUCT", package)
    assert _cycles(_graph(module_level_only=True)) == []
    assert _cycles(_graph(module_level_only=False)) == [["shipshape.a", "shipshape.b"]]
    assert ("shipshape_sandbox.server", 2, False) in imports(package / "b.py")


# ------------------------------------------------------------------------------------- dependencies
def _name(requirement: str) -> str:
    return re.split(r"[\[=<>~! ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def requirements_groups() -> dict[str, list[str]]:
    """requirements.txt's pins by group: the product until `# --- the sandbox`, then the sandbox until
    `# --- development`, then dev (its header says so)."""
    groups: dict[str, list[str]] = {"product": [], "sandbox": [], "dev": []}
    group = "product"
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if line.startswith("# --- the sandbox"):
            group = "sandbox"
        elif line.startswith("# --- development"):
            group = "dev"
        elif line.strip() and not line.startswith("#"):
            groups[group].append(line.strip())
    return groups


def test_pyproject_groups_are_requirements_txt_groups():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {"product": project["dependencies"], **project["optional-dependencies"]}
    assert {k: sorted(v) for k, v in declared.items()} == {k: sorted(v) for k, v in requirements_groups().items()}


def test_the_product_depends_on_none_of_the_sandbox_group():
    """The sandbox group holds nothing the product imports (third-party top-level imports of the product,
    mapped to the distributions that provide them, checked against the group's names)."""
    from importlib.metadata import packages_distributions

    provides = packages_distributions()
    sandbox = {_name(r) for r in requirements_groups()["sandbox"]}
    used = set()
    for path in product_modules().values():
        for module, _, _ in imports(path):
            top = module.split(".")[0]
            used |= {d.lower().replace("_", "-") for d in provides.get(top, [])}
    assert not used & sandbox, f"the product imports what only the sandbox group installs: {used & sandbox}"


def test_a_built_distribution_carries_the_product_only():
    find = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert find["where"] == ["include"]
    assert all(pattern == "shipshape" or pattern.startswith("shipshape.") for pattern in find["include"])


def test_the_sandbox_commands_are_entry_points_of_the_sandbox():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    commands = project["entry-points"]["shipshape.commands"]
    assert set(commands) == {"sandbox", "demo"}
    assert all(value.startswith(SANDBOX + ".") for value in commands.values())
    from shipshape import commands as product_commands

    assert set(product_commands.OPTIONAL) == set(commands), "each optional command says how to install it"
