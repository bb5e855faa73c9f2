"""The layers read one way: views → admin_app (services, authority, jobs) → models; only the factory wires the
views in. Read from the sources (every import, a function's included), so a new upward import fails here."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("admin_app", "models", "views")
FLASK_PACKAGES = ("flask", "flask_admin", "flask_login", "flask_wtf", "flask_babel", "flask_limiter", "flask_migrate",
                  "flask_sqlalchemy", "werkzeug", "jinja2")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, absolute module) for every import in the file, relative ones resolved."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return found


def offending(package: str, forbidden: tuple[str, ...], allowed_files: tuple[str, ...] = (), root: Path = ROOT) -> list[str]:
    wrong = []
    for path in sorted((root / package).rglob("*.py")):
        relative = str(path.relative_to(root))
        if relative in allowed_files:
            continue
        for line, target in imports_of(path, root):
            if any(target == f or target.startswith(f + ".") for f in forbidden):
                wrong.append(f"{relative}:{line} imports {target}")
    return sorted(set(wrong))


def test_models_import_neither_the_app_nor_the_views_nor_flask():
    assert offending("models", ("admin_app", "views", *FLASK_PACKAGES)) == []


def test_the_app_never_imports_the_views_but_in_its_factory():
    assert offending("admin_app", ("views",), allowed_files=("admin_app/__init__.py",)) == []


def test_services_know_no_request_nor_logged_in_user():
    """Services take (session, actor, ...): who acts and from where is the caller's to say."""
    forbidden = ("flask.request", "flask.session", "flask.g", "flask_login", "admin_app.current", "views")
    assert offending("admin_app/services", forbidden) == []


def test_the_rule_sees_an_upward_import(tmp_path):
    """The premise of the tests above: an import written inside a function, relative or not, is found."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "probe.py").write_text(
        "def f():\n    from admin_app.services import users\n    from ..views import base\n", encoding="utf-8")
    assert offending("models", ("admin_app", "views"), root=tmp_path) == [
        "models/probe.py:2 imports admin_app.services", "models/probe.py:2 imports admin_app.services.users",
        "models/probe.py:3 imports views", "models/probe.py:3 imports views.base"]


def imports_of_test_modules(root: Path = ROOT) -> list[str]:
    """Imports, anywhere under tests/, of a test module or a conftest: helpers live in modules of their own."""
    wrong = []
    for path in sorted((root / "tests").rglob("*.py")):
        for line, target in imports_of(path, root):
            last = target.rpartition(".")[2]
            if target.startswith("tests.") and (last.startswith("test_") or last == "conftest"):
                wrong.append(f"{path.relative_to(root)}:{line} imports {target}")
    return sorted(set(wrong))


def test_no_test_module_imports_another_nor_a_conftest(tmp_path):
    """A test module imports helper modules (tests/demo.py, tests/http.py, tests/services/factories.py...), never
    another test module nor a conftest (those hold tests and fixtures only); the rule is checked to see one."""
    assert imports_of_test_modules() == []
    (tmp_path / "tests" / "views").mkdir(parents=True)
    (tmp_path / "tests" / "views" / "test_probe.py").write_text(
        "from ..conftest import login\nfrom .test_users import edit_data\nfrom ..http import csrf_token\n", encoding="utf-8")
    assert imports_of_test_modules(tmp_path) == [
        "tests/views/test_probe.py:1 imports tests.conftest", "tests/views/test_probe.py:2 imports tests.views.test_users"]
