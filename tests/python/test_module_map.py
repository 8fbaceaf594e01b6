"""The shape of keras3r's Python package: no import cycles, one place that binds.

Read from the source (every import that runs, at module level or inside a
function; not those under `if TYPE_CHECKING:`, which never run),
so that a cycle is caught before it bites at some import order.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "py" / "keras3r"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}


def _is_type_checking_block(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"


def _type_checking_imports(path: Path) -> list[ast.ImportFrom]:
    """The `from ... import ...` statements under `if TYPE_CHECKING:` at top level."""
    return [
        node
        for block in ast.parse(path.read_text()).body
        if _is_type_checking_block(block)
        for node in ast.walk(block)
        if isinstance(node, ast.ImportFrom)
    ]


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The keras3r modules that `path` imports when it runs (a `from package import module` counts).

    Imports under `if TYPE_CHECKING:` never run, so they cannot close a cycle.
    """
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    for block in tree.body:
        if _is_type_checking_block(block):
            tree.body.remove(block)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name in modules}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_keras3r_module_imports_itself_back() -> None:
    modules = _modules()
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    # A package's __init__ may gather its submodules; a submodule must not
    # import the package's __init__ names back (it imports siblings directly).
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(f"{m}.")}
    assert _cycle(graph) is None


def test_loading_imports_nothing_of_keras3r() -> None:
    # R runs keras3r/loading.py before keras3r can be imported.
    modules = _modules()
    assert _imports(modules["keras3r.loading"], modules) == set()


def test_only_the_adapter_binds_methods_on_an_optimizer() -> None:
    binders = set()
    for name, path in _modules().items():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            called = node.func if isinstance(node, ast.Call) else None
            if isinstance(called, ast.Attribute) and called.attr == "MethodType":
                binders.add(name)
    assert binders == {"keras3r.adapt.instance"}


def _names_bound(path: Path) -> set[str]:
    """The names a module binds at its top level (imports, functions, classes, assignments)."""
    bound: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound.update(t.id for t in targets if isinstance(t, ast.Name))
    return bound


def _shadowed_submodules(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Per package, the submodules whose name its __init__ binds to something else."""
    shadowed: dict[str, set[str]] = {}
    for name, path in modules.items():
        if path.name != "__init__.py":
            continue
        submodules = {m.rpartition(".")[2] for m in modules if m.rpartition(".")[0] == name}
        # `from keras3r.adapt import jax` would bind the submodule itself: only
        # a name imported from elsewhere, or defined here, hides one.
        own = {
            alias.asname or alias.name
            for node in ast.parse(path.read_text()).body
            if isinstance(node, ast.ImportFrom) and node.module == name
            for alias in node.names
        }
        clash = (_names_bound(path) - own) & submodules
        if clash:
            shadowed[name] = clash
    return shadowed


def test_shadow_finder_finds_a_function_named_like_its_module(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from pkg.attach import attach\n")
    (package / "attach.py").write_text("def attach(): pass\n")
    modules = {"pkg": package / "__init__.py", "pkg.attach": package / "attach.py"}
    assert _shadowed_submodules(modules) == {"pkg": {"attach"}}


def test_no_package_hides_a_submodule_behind_another_name() -> None:
    # `keras3r.adapt.attach` must be one thing: were it both a function (bound
    # by the package's __init__) and a module, `import keras3r.adapt.attach`
    # and `from keras3r.adapt import attach` would give different objects.
    assert _shadowed_submodules(_modules()) == {}


def test_names_imported_for_annotations_exist() -> None:
    # An import under TYPE_CHECKING never runs, so nothing else would notice
    # when the name it imports moves to another module.
    for name, path in _modules().items():
        for node in _type_checking_imports(path):
            module = importlib.import_module(node.module or "")
            wanted = [alias.name for alias in node.names if alias.name != "*"]
            missing = [n for n in wanted if not hasattr(module, n)]
            assert not missing, f"{name} imports {missing} from {node.module} for annotations"


# Hand-written Python longer than this is listed, with the reason, in the
# README's "Contributing" section.
MAX_LINES = 400


def test_long_python_files_are_listed_in_the_readme() -> None:
    root = PACKAGE.parents[1]
    readme = (root / "README.md").read_text()
    listed = readme[readme.index("## Contributing"):]
    folders = ("py", "tools", "tests", "bench", "examples")
    long = [
        path.relative_to(root).as_posix()
        for folder in folders
        for path in sorted((root / folder).rglob("*.py"))
        if "__pycache__" not in path.parts and len(path.read_text().splitlines()) > MAX_LINES
    ]
    assert long, "no file is over the limit: the listing test would pass vacuously"
    missing = [name for name in long if f"`{name}`" not in listed]
    assert not missing, f"over {MAX_LINES} lines, not listed in README's Contributing: {missing}"
