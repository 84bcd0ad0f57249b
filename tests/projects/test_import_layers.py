"""`projects` never imports `realtime` when its modules load: the relay depends on projects,
not the other way round (functions may import it when called, as projects/live.py does)."""

import ast
from pathlib import Path

import pytest

PROJECTS = Path(__file__).resolve().parents[2] / "projects"
MODULES = sorted(PROJECTS.rglob("*.py"))


def imports_at_load(tree: ast.Module) -> list[str]:
    """Modules imported by statements that run when the module loads (not inside functions)."""
    found: list[str] = []
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.append(node.module or "")
        pending.extend(ast.iter_child_nodes(node))
    return found


def test_every_projects_module_is_checked():
    names = {path.relative_to(PROJECTS).as_posix() for path in MODULES}
    assert {"admin.py", "forms.py", "views.py", "models.py", "live.py"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PROJECTS).as_posix())
def test_module_does_not_import_realtime_when_it_loads(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    relay = [name for name in imports_at_load(tree) if name.split(".")[0] == "realtime"]
    assert relay == [], f"{path.name} imports {relay} at module level"


def test_the_check_sees_module_level_imports():
    tree = ast.parse("import realtime.live\nif True:\n    from realtime import protocol\n")
    assert sorted(imports_at_load(tree)) == ["realtime", "realtime.live"]


def test_the_check_ignores_imports_inside_functions():
    tree = ast.parse("def f():\n    from realtime import live\n")
    assert imports_at_load(tree) == []
