"""Package hygiene: public surfaces, import layering, settings, README truth."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import abwb
from abwb.errors import InvalidInput
from abwb.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
#: The pure core must not import drivers, web frameworks or notebook machinery.
CORE = ("abwb.config", "abwb.assignment", "abwb.targeting", "abwb.stats", "abwb.flags",
        "abwb.rollout")
FORBIDDEN_IN_CORE = ("psycopg", "psycopg_pool", "redis", "litestar", "uvicorn", "papermill",
                     "nbconvert", "matplotlib", "api", "abwb.store", "abwb.api", "httpx")


def test_root_all_is_sorted_and_complete() -> None:
    assert abwb.__all__ == sorted(abwb.__all__)
    for name in abwb.__all__:
        assert hasattr(abwb, name), name


def iter_modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(abwb.__path__, "abwb.")]


def test_every_module_declares_all_and_a_docstring() -> None:
    missing = []
    for name in iter_modules():
        path = Path(importlib.util.find_spec(name).origin)  # type: ignore[union-attr, arg-type]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        has_all = any(isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in n.targets)
                      for n in tree.body)
        if not has_all or ast.get_docstring(tree) is None:
            missing.append(name)
    assert missing == []


def test_core_imports_point_inward() -> None:
    offenders = []
    for name in iter_modules():
        if not name.startswith(CORE):
            continue
        path = Path(importlib.util.find_spec(name).origin)  # type: ignore[union-attr, arg-type]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                mods = [node.module]
            offenders += [f"{name} imports {m}" for m in mods
                          if any(m == f or m.startswith(f + ".") for f in FORBIDDEN_IN_CORE)]
    assert offenders == []


@pytest.mark.slow  # starts a Python process
def test_import_abwb_stays_light() -> None:
    code = ("import sys, abwb, abwb.assignment, abwb.config; "
            "heavy = [m for m in ('pymc', 'pytensor', 'litestar', 'psycopg', 'redis', 'matplotlib', "
            "'papermill') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_settings_from_env_and_defaults() -> None:
    s = Settings.from_env({})
    assert s.database.effective_url == "sqlite:///.abwb/abwb.db"
    assert not s.database.is_postgres
    assert s.cache.redis_url is None
    s = Settings.from_env({"ABWB_DATABASE_URL": "postgresql://x@h/db", "ABWB_REDIS_URL": "redis://h",
                           "ABWB_API_PORT": "9000", "ABWB_ALPHA": "0.01"})
    assert s.database.is_postgres and s.cache.redis_url == "redis://h"
    assert (s.api.port, s.analysis.alpha) == (9000, 0.01)


@pytest.mark.parametrize(("env", "message"), [
    ({"ABWB_API_PORT": "eighty"}, "ABWB_API_PORT: must be an integer, got 'eighty'"),
    ({"ABWB_API_PORT": "70000"}, "ABWB_API_PORT: must be in [1, 65535], got 70000"),
    ({"ABWB_ALPHA": "1.5"}, "ABWB_ALPHA: must be in (0.0, 1.0), got 1.5"),
])
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Settings.from_env(env)
    assert str(info.value) == message


def test_readme_layout_names_only_existing_paths() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    stack: list[tuple[int, str]] = []
    for line in block.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        token = stripped.split()[0]
        if not token.endswith("/") and "." not in token:
            continue
        indent = len(line) - len(line.lstrip())
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = "/".join([p for _, p in stack] + [token.rstrip("/")])
        assert (ROOT / path).exists(), f"README layout names {path!r}, which does not exist"
        if token.endswith("/"):
            stack.append((indent, token.rstrip("/")))


def test_committed_files_reference_real_commands() -> None:
    run = (ROOT / "run").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for command in ("./run demo", "./run test"):
        assert command in readme
        assert command.split()[1] + ")" in run


def test_readme_python_examples_run_and_print_what_they_say(capsys: pytest.CaptureFixture[str]) -> None:
    import re

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 2
    namespace: dict[str, object] = {}
    exec(blocks[0], namespace)
    assert capsys.readouterr().out.strip() == "one-page assigned"
    exec(blocks[1], namespace)
    z, b = namespace["z"], namespace["b"]
    assert round(z.effect_rel, 3) == 0.125 and round(z.p_value, 3) == 0.054  # type: ignore[attr-defined]
    assert round(b.chance_to_beat_control, 3) == 0.973  # type: ignore[attr-defined]
