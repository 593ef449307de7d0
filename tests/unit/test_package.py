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

#: The layer contract: what each package of abwb/ and api/ may import at run time, besides
#: the standard library. An entry ``abwb.x`` admits ``abwb.x`` and its submodules; the
#: root ``abwb`` admits only the root's re-exports. A package's own modules are always
#: admitted. The pure core (DESIGN.md) needs no driver, web framework, notebook
#: machinery or data-frame engine: ``import abwb`` stays light (checked below too).
PURE = ("abwb.errors", "abwb.config", "abwb.targeting", "abwb.assignment")
LAYERS: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in {
    # -- the pure core: stdlib, msgspec (and yaml for config files, re2 for regexes)
    "abwb": {"abwb.assignment", "abwb.config", "abwb.errors", "abwb.settings"},
    "abwb.errors": set(),
    "abwb.settings": {"abwb.errors", "abwb.access.keys"},
    "abwb.access": {"abwb.errors", "abwb.store"},
    "abwb.config": {"msgspec", "yaml", "abwb.errors", "abwb.targeting.grammar"},
    "abwb.targeting": {"re2", "abwb.errors"},
    "abwb.assignment": {"msgspec", "abwb.config", "abwb.errors", "abwb.targeting",
                        "abwb.cache.protocol"},
    "abwb.rollout": {"msgspec", "abwb.assignment", "abwb.config", "abwb.errors"},
    "abwb.flags": {"msgspec", "abwb.assignment", "abwb.config", "abwb.errors", "abwb.rollout",
                   "abwb.targeting"},
    "abwb.stats": {"numpy", "scipy", "polars", "pymc", "arviz_stats", "nutpie", "abwb.errors",
                   "abwb.config.metric"},
    # -- frames and analysis: polars, duckdb
    "abwb.bulk": {"numpy", "polars", "polars_hash", "abwb.assignment", "abwb.config", "abwb.errors",
                  "abwb.targeting"},
    "abwb.events": {"anyio", "msgspec", "polars", "abwb.assignment.decision",
                    "abwb.assignment.hashing",
                    "abwb.cache.protocol", "abwb.cache.recent", "abwb.config", "abwb.errors", "abwb.settings",
                    "abwb.store.protocol"},
    "abwb.metrics": {"duckdb", "polars", "sqlglot", "abwb.assignment", "abwb.bulk", "abwb.config",
                     "abwb.errors", "abwb.events", "abwb.stats",
                     # warehouse.py: the engines a WarehouseSource connects to (lazy imports)
                     "psycopg", "pyspark", "abwb.store.postgres", "abwb.store.postgres_events",
                     # warehouse.py: --warehouse / ABWB_WAREHOUSE_* resolved in one place
                     "abwb.settings"},
    "abwb.simulate": {"numpy", "polars", "abwb.assignment", "abwb.bulk", "abwb.config",
                      "abwb.errors", "abwb.events"},
    # -- adapters: drivers behind ports
    "abwb.cache": {"msgspec", "redis", "abwb.errors"},
    "abwb.store": {"msgspec", "polars", "psycopg", "psycopg_pool", "abwb.assignment",
                   "abwb.config", "abwb.errors", "abwb.events", "abwb.monitoring",
                   "abwb.settings"},
    "abwb.snapshot": {"msgspec", "psycopg", "redis", "abwb.assignment", "abwb.config",
                      "abwb.errors", "abwb.flags", "abwb.store", "abwb.targeting"},
    "abwb.openfeature": {"openfeature", "abwb.errors", "abwb.flags"},
    # -- use cases, jobs and reports
    "abwb.serving": {"anyio", "abwb.access", "abwb.assignment", "abwb.cache", "abwb.errors",
                     "abwb.events", "abwb.flags", "abwb.snapshot", "abwb.store"},
    "abwb.reconciliation": {"msgspec", "abwb.assignment", "abwb.changes", "abwb.config",
                            "abwb.errors", "abwb.store"},
    "abwb.analysis": {"polars", "abwb.config", "abwb.errors", "abwb.readout", "abwb.stats"},
    "abwb.changes": {"msgspec", "abwb", "abwb.assignment", "abwb.config", "abwb.errors",
                     "abwb.flags", "abwb.snapshot", "abwb.store"},
    "abwb.monitoring": {"httpx", "msgspec", "polars", "redis", "scipy", "abwb.config",
                        "abwb.errors", "abwb.events", "abwb.rollout", "abwb.stats",
                        "abwb.store",
                        # warehouse.py: the monitor's statistics pushed down (one pipeline)
                        "abwb.metrics"},
    "abwb.readout": {"ipykernel", "jupyter_client", "matplotlib", "nbconvert", "nbformat",
                     "numpy", "papermill", "polars", "scipy", "abwb", "abwb.config",
                     "abwb.errors", "abwb.metrics", "abwb.settings", "abwb.stats",
                     "abwb.store", "abwb.analysis.result"},
    # -- entry points: they choose adapters
    "abwb.demo": {"msgspec", "numpy", "polars", "abwb.assignment", "abwb.bulk", "abwb.cache",
                  "abwb.config", "abwb.errors", "abwb.events", "abwb.flags", "abwb.metrics",
                  "abwb.monitoring", "abwb.readout", "abwb.rollout", "abwb.settings",
                  "abwb.simulate", "abwb.snapshot", "abwb.stats", "abwb.store"},
    "abwb.cli": {"msgspec", "papermill", "rich", "uvicorn", "yaml", "api", "abwb", "abwb.access",
                 "abwb.changes", "abwb.config", "abwb.demo", "abwb.errors", "abwb.monitoring",
                 "abwb.metrics", "abwb.readout", "abwb.reconciliation", "abwb.settings",
                 "abwb.snapshot", "abwb.store"},
    "api": {"anyio", "litestar", "msgspec", "prometheus_client", "swagger_ui_bundle",
            "abwb.access", "abwb.serving", "abwb.monitoring.alerts", "abwb.assignment", "abwb.cache", "abwb.changes",
            "abwb.config", "abwb.errors", "abwb.events", "abwb.flags", "abwb.settings",
            "abwb.snapshot", "abwb.store"},
}.items()}
#: Imports under ``if TYPE_CHECKING:`` cost nothing at run time; these are admitted there.
TYPE_ONLY: dict[str, frozenset[str]] = {
    "abwb.targeting": frozenset({"polars", "abwb.config.segment"}),
    "abwb.bulk": frozenset({"abwb.config.segment"}),
    "abwb.analysis": frozenset({"matplotlib"}),
}
#: Loaded by ``import abwb`` never: data-frame engines, drivers, web and notebook stacks.
HEAVY = ("duckdb", "polars", "pyarrow", "pymc", "pytensor", "litestar", "psycopg", "redis",
         "matplotlib", "papermill", "httpx")


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
        if path.suffix != ".py":  # the compiled bucket kernel (abwb/assignment/_sha256.c)
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        has_all = any(isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in n.targets)
                      for n in tree.body)
        if not has_all or ast.get_docstring(tree) is None:
            missing.append(name)
    assert missing == []


def layer_of(module: str) -> str:
    """The contract entry a module belongs to: ``abwb.<package or module>`` or ``api``."""
    parts = module.split(".")
    if parts[0] == "api":
        return "api"
    return ".".join(parts[:2])


def imports_of(path: Path) -> list[tuple[str, bool]]:
    """Absolute imports of a module: (imported module, under ``if TYPE_CHECKING:``)."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, typing_only: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend((alias.name, typing_only) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, typing_only))
        for child in ast.iter_child_nodes(node):
            guarded = isinstance(node, ast.If) and ast.unparse(node.test) in (
                "TYPE_CHECKING", "typing.TYPE_CHECKING") and child in node.body
            visit(child, typing_only or guarded)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def admitted(module: str, allowed: frozenset[str]) -> bool:
    """Whether ``module`` is covered by an allow-list entry (root ``abwb`` only exactly)."""
    return any(module == entry or (entry != "abwb" and module.startswith(entry + "."))
               for entry in allowed)


def contract_breaches(modules: list[tuple[str, Path]]) -> list[str]:
    """Every import of every module that the layer contract does not admit."""
    stdlib = frozenset(sys.stdlib_module_names) | {"__future__"}
    breaches = []
    for name, path in modules:
        layer = layer_of(name)
        if layer not in LAYERS:
            breaches.append(f"{name}: package {layer} has no entry in the layer contract")
            continue
        for imported, typing_only in imports_of(path):
            top = imported.split(".")[0]
            if top in stdlib or (layer_of(imported) == layer and top in ("abwb", "api")):
                continue
            allowed = LAYERS[layer] | (TYPE_ONLY.get(layer, frozenset()) if typing_only
                                       else frozenset())
            target = imported if top in ("abwb", "api") else top
            if not admitted(target, allowed):
                breaches.append(f"{name} imports {imported}, outside the layer contract of {layer}")
    return breaches


def every_module() -> list[tuple[str, Path]]:
    out = []
    for package in ("abwb", "api"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out.append((".".join(parts[:-1] if parts[-1] == "__init__" else parts), path))
    return out


def test_every_module_keeps_to_the_layer_contract() -> None:
    modules = every_module()
    assert len(modules) > 100 and {layer_of(m) for m, _ in modules} <= set(LAYERS)
    assert contract_breaches(modules) == []


def test_layer_contract_catches_a_wrong_import(tmp_path: Path) -> None:
    bad = tmp_path / "engine.py"
    bad.write_text("import polars\nfrom abwb.store import memory\nimport json\n"
                   "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import duckdb\n",
                   encoding="utf-8")
    assert contract_breaches([("abwb.assignment.engine", bad), ("abwb.ghost.x", bad)]) == [
        "abwb.assignment.engine imports polars, outside the layer contract of abwb.assignment",
        "abwb.assignment.engine imports abwb.store, outside the layer contract of abwb.assignment",
        "abwb.assignment.engine imports duckdb, outside the layer contract of abwb.assignment",
        "abwb.ghost.x: package abwb.ghost has no entry in the layer contract",
    ]


def test_pure_core_admits_no_heavy_package() -> None:
    for layer in PURE:
        assert not {e for e in LAYERS[layer] if e.split(".")[0] in HEAVY}, layer


@pytest.mark.slow  # starts a Python process
def test_import_abwb_stays_light() -> None:
    code = ("import sys, abwb, abwb.assignment, abwb.config, abwb.targeting, abwb.flags, "
            "abwb.rollout; print(','.join(m for m in sys.modules if m.split('.')[0] in "
            f"{HEAVY!r}))")
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
