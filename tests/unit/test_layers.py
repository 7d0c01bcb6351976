"""Which way imports may point, read from the source (an AST walk, nothing imported).

- ``checkpoints/`` and ``risk/`` are pure: a gate runs ``python -m checkpoints.verify``
  and the engine runs in a worker without Flask, SQLAlchemy or the app (``backend``).
- ``backend/credit/`` is the credit store, apart from the health side: it reads no
  health model or service, only the shared extensions, column types and exceptions.
- No module imports another module's private (``_name``) names.
- A view module (``backend/api/*.py``) defines no schema: bodies live in
  ``backend/api/schemas/<blueprint>.py`` (see that package's docstring).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE_PACKAGES = ("checkpoints", "risk")
FRAMEWORKS = ("backend", "flask", "sqlalchemy")  # flask_* (flask_sqlalchemy...) too
CREDIT_MAY_IMPORT = {"extensions", "dbtypes", "exceptions"}  # from backend, relatively
NO_PRIVATE_IMPORTS = ("backend", "checkpoints", "risk", "scripts", "bench")


def sources(*packages: str) -> Iterator[tuple[str, ast.Module]]:
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield str(path.relative_to(ROOT)), ast.parse(path.read_text(), str(path))


def imported_modules(tree: ast.Module) -> Iterator[tuple[int, int, str]]:
    """(line, relative level, module) for every import in the tree, nested ones too."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, 0, alias.name
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, node.level, node.module or ""


def framework_imports(tree: ast.Module) -> list[str]:
    found = []
    for line, level, module in imported_modules(tree):
        top = module.split(".")[0]
        if level == 0 and (top in FRAMEWORKS or top.startswith("flask_")):
            found.append(f"line {line}: {module}")
    return found


def health_side_imports(tree: ast.Module) -> list[str]:
    """What a module of ``backend/credit/`` imports from outside the credit store."""
    found = []
    for line, level, module in imported_modules(tree):
        if level >= 2:  # from ..x: a backend module beside the credit package
            if module.split(".")[0] not in CREDIT_MAY_IMPORT:
                found.append(f"line {line}: {'.' * level}{module}")
        elif level == 0 and module.split(".")[0] in ("backend", "risk"):
            parts = module.split(".")
            if len(parts) < 2 or parts[1] not in ("credit", *CREDIT_MAY_IMPORT):
                found.append(f"line {line}: {module}")
    return found


def private_imports(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"line {node.lineno}: from {module} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if any(part.startswith("_") and not part.startswith("__")
                       for part in alias.name.split(".")):
                    found.append(f"line {node.lineno}: import {alias.name}")
    return found


def schema_classes(tree: ast.Module) -> list[str]:
    """Classes defined here whose bases include a ``...Schema`` (marshmallow bodies)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            bases = [ast.unparse(base).split(".")[-1] for base in node.bases]
            if any(base.endswith("Schema") for base in bases):
                found.append(f"line {node.lineno}: class {node.name}")
    return found


def test_pure_cores_import_neither_the_app_nor_its_frameworks():
    bad = {path: found for path, tree in sources(*PURE_PACKAGES)
           if (found := framework_imports(tree))}
    assert bad == {}


def test_the_credit_store_imports_nothing_from_the_health_side():
    bad = {path: found for path, tree in sources("backend/credit")
           if (found := health_side_imports(tree))}
    assert bad == {}


def test_no_module_imports_private_names_of_another():
    bad = {path: found for path, tree in sources(*NO_PRIVATE_IMPORTS)
           if (found := private_imports(tree))}
    assert bad == {}


def test_view_modules_define_no_schema():
    views = [(path, tree) for path, tree in sources("backend/api")
             if "/schemas/" not in path]
    bad = {path: found for path, tree in views if (found := schema_classes(tree))}
    assert bad == {}


@pytest.mark.parametrize(("check", "source"), [
    (schema_classes, "class LiftSchema(Schema):\n    pass\n"),
    (schema_classes, "class Page(ma.Schema):\n    pass\n"),
    (framework_imports, "from backend.api.base import Blueprint"),
    (framework_imports, "import flask"),
    (framework_imports, "from flask_sqlalchemy import SQLAlchemy"),
    (framework_imports, "from sqlalchemy.orm import Session"),
    (framework_imports, "def late():\n    from backend import create_app\n"),
    (health_side_imports, "from ..models import Citizen"),
    (health_side_imports, "from ..services.codes import current_code"),
    (health_side_imports, "from backend.models import Citizen"),
    (health_side_imports, "import backend.models.citizens"),
    (health_side_imports, "from risk import evaluate"),
    (private_imports, "from .schemas import _time"),
    (private_imports, "from checkpoints.verifier import RESTRICTABLE, _P256_N"),
    (private_imports, "import bench._loadgen"),
])
def test_each_check_finds_what_it_forbids(check, source):
    assert check(ast.parse(source)) != []


@pytest.mark.parametrize(("check", "source"), [
    (framework_imports, "from .verifier import RESTRICTABLE\nimport json"),
    (framework_imports, "from cryptography.hazmat.primitives import hashes"),
    (health_side_imports, "from ..extensions import db\nfrom .models import Restriction"),
    (health_side_imports, "from backend.credit.models import Restriction"),
    (private_imports, "from __future__ import annotations\nfrom . import prebuilt"),
    (schema_classes, "class Blueprint(flask_smorest.Blueprint):\n    pass\n"),
])
def test_each_check_lets_through_what_it_allows(check, source):
    assert check(ast.parse(source)) == []
