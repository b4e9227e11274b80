"""Which app may use which (STYLE.md): one direction, reads of another app through its selectors."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = ("workforce", "marketplace", "qc", "billing")


def _modules(app: str) -> list[Path]:
    return [path for path in (ROOT / app).rglob("*.py") if "migrations" not in path.parts]


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import in the file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.asname or alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
    return found


def _apps_imported(path: Path) -> set[str]:
    return {module.split(".")[0] for module, _ in _imports(path)} & set(APPS)


@pytest.mark.parametrize("app", APPS)
def test_apps_import_only_what_they_build_on(app):
    allowed = {
        "workforce": set(),
        "marketplace": {"workforce", "qc"},
        "qc": {"workforce", "marketplace"},
        "billing": {"workforce", "marketplace", "qc"},
    }[app] | {app}

    wrong = {
        str(path.relative_to(ROOT)): sorted(_apps_imported(path) - allowed)
        for path in _modules(app)
        if _apps_imported(path) - allowed
    }

    assert wrong == {}


@pytest.mark.parametrize("module", ["qc/scoring.py", "billing/pay.py", "marketplace/splitters.py"])
def test_the_pure_modules_import_no_django_and_no_app(module):
    imported = {name.split(".")[0] for name, _ in _imports(ROOT / module)}

    assert imported & {"django", "rest_framework", *APPS} == set()


def test_qc_queries_other_apps_models_only_through_their_selectors():
    offenders = []
    for path in _modules("qc"):
        tree = ast.parse(path.read_text(), str(path))
        foreign = {
            name
            for module, names in _imports(path)
            if module in ("marketplace.models", "workforce.models")
            for name in names
        }
        offenders += [
            f"{path.relative_to(ROOT)}:{node.lineno} {node.value.id}.objects"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and node.attr == "objects"
            and isinstance(node.value, ast.Name)
            and node.value.id in foreign
        ]

    assert offenders == []
