"""The docs tell the truth: their python examples run, and examples/ validates.

Every ```python block of a ``docs/*.md`` page runs, in order, in one namespace per page
(a page's blocks build on each other, as a reader would type them), in a fresh working
directory. The OFREP example runs against a real ``abwb serve`` (slow).
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from abwb.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md"))
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
#: Blocks that need a running server; run by the slow test below.
NEEDS_SERVER = "OFREPProvider"
#: Pages that read the demo's workspace (after `./run demo`); run by the slow test below.
NEEDS_DEMO = ("readouts.md",)


def python_blocks(page: Path) -> list[str]:
    """The ```python blocks of a markdown page, in order."""
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)


def _run_page(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "examples").symlink_to(ROOT / "examples")  # as in a checkout
    namespace: dict[str, object] = {"__name__": f"docs.{page.stem}"}
    for i, block in enumerate(python_blocks(page)):
        if NEEDS_SERVER in block:
            continue
        try:
            exec(compile(block, f"{page.name}[python block {i}]", "exec"), namespace)
        except Exception as exc:  # the failing block is named in the report
            raise AssertionError(f"{page.name}, python block {i} fails: {exc!r}") from exc


@pytest.fixture
def fresh_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory and no ABWB_* setting, as a newcomer starts."""
    monkeypatch.chdir(tmp_path)
    for name in ("ABWB_HOME", "ABWB_DATABASE_URL", "ABWB_DATABASE_SCHEMA", "ABWB_REDIS_URL",
                 "ABWB_REPORTS_DIR"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.mark.parametrize(
    "page", [p for p in DOCS if python_blocks(p) and p.name not in NEEDS_DEMO],
    ids=lambda p: p.name,
)
def test_doc_python_examples_run(
    page: Path, fresh_directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run_page(page, fresh_directory, monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("name", NEEDS_DEMO)
def test_doc_examples_on_the_demo_workspace_run(
    name: str, fresh_directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["demo", "--users", "2000", "--no-notebook"]) == 0
    _run_page(ROOT / "docs" / name, fresh_directory, monkeypatch)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(example)]) == 0, capsys.readouterr().err
    assert ": ok (" in capsys.readouterr().out


def test_examples_exist_where_the_run_help_says() -> None:
    assert "examples/*.yaml" in (ROOT / "run").read_text(encoding="utf-8")
    assert len(EXAMPLES) >= 2


def test_examples_apply_together_and_round_trip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ABWB_HOME", str(tmp_path / ".abwb"))
    monkeypatch.delenv("ABWB_DATABASE_URL", raising=False)
    files = [str(p) for p in EXAMPLES]
    assert main(["apply", "--yes", *files]) == 0
    assert main(["diff", *files]) == 0
    assert "no changes" in capsys.readouterr().out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[str]:
    """``abwb serve --demo`` on a free port; yields its base URL."""
    port = _free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "abwb"), "serve", "--demo", "--port", str(port)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed before the server starts listening
        assert f"listening on http://127.0.0.1:{port}" in line, line
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.05)
        else:
            raise AssertionError("abwb serve did not accept connections within 60 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_ofrep_provider_example_against_abwb_serve(demo_server: str) -> None:
    (block,) = [b for b in python_blocks(ROOT / "docs" / "flags.md") if NEEDS_SERVER in b]
    assert "http://127.0.0.1:8000" in block
    namespace: dict[str, object] = {}
    exec(block.replace("http://127.0.0.1:8000", demo_server), namespace)
    details = namespace["details"]
    assert details.value is False and details.reason == "STATIC"  # type: ignore[attr-defined]


def test_jupyterlab_is_documented_and_started_by_run_lab() -> None:
    run = (ROOT / "run").read_text(encoding="utf-8")
    assert "    lab)" in run and 'lab --notebook-dir="$ROOT/notebooks"' in run
    assert 'ABWB_HOME="${ABWB_HOME:-$ROOT/.abwb}"' in run  # kernels start in notebooks/
    help_text = subprocess.run([str(ROOT / "run"), "help"], capture_output=True, text=True,
                               check=True).stdout
    assert "./run lab" in help_text and "examples/*.yaml" in help_text
    assert "./run lab" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "./run lab" in (ROOT / "docs" / "readouts.md").read_text(encoding="utf-8")
