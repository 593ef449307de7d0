"""Terminal output: tables that fit 80 columns, plurals, --version, help, broken pipes."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest
from rich.console import Console

import abwb
from abwb.cli import main
from abwb.cli.main import build_parser
from abwb.cli.terminal import plural, print_table

DEMO = Path(__file__).resolve().parents[3] / "abwb" / "demo" / "demo.yaml"
COLUMNS = ["metric", "treatment", "method", "lift", "CI", "p adj", "always-valid CI",
           "P(>ctrl)", "exp. loss", "status"]
ROW = ["purchase", "one-page-express", "z 2-prop", "+9.1%", "[-26.5%, +44.7%]", "1.000",
       "[-60.2%, +101.3%]", "73.2%", "0.12 pp", "ok"]
#: Subcommands whose parser this team owns (serve and keys are owned elsewhere).
OWNED = ["demo", "validate", "apply", "diff", "export", "monitor", "migrate", "readout"]


def test_wide_console_gets_a_table() -> None:
    console = Console(width=160, record=True)
    assert print_table(console, "Results", COLUMNS, [ROW], heading=2)
    text = console.export_text()
    assert "always-valid CI" in text and "[-60.2%, +101.3%]" in text


def test_narrow_console_gets_a_list_with_every_value_whole() -> None:
    console = Console(width=80, record=True)
    assert not print_table(console, "Results", COLUMNS, [ROW], heading=2)
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "purchase · one-page-express" in lines
    body = " · ".join(line.strip() for line in lines[2:])
    for col, cell in zip(COLUMNS[2:], ROW[2:], strict=True):
        assert f"{col}: {cell}" in body  # every value whole, none folded
    assert len(lines) <= 5  # packed, not one line per column


def test_plural() -> None:
    assert [plural(n, "segment") for n in (0, 1, 2)] == ["0 segments", "1 segment", "2 segments"]
    assert plural(1, "audit entry", "audit entries") == "1 audit entry"


def test_validate_counts_use_plurals(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(DEMO)]) == 0
    out = capsys.readouterr().out
    assert "3 experiments, 1 segment, 1 layer, 1 holdout, 2 flags, 1 rollout, 4 metrics" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"abwb {abwb.__version__}"


@pytest.mark.parametrize("command", OWNED)
def test_every_subcommand_has_a_description_and_examples(command: str) -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    help_text = sub.choices[command].format_help()  # type: ignore[index]
    assert "examples:" in help_text and f"abwb {command}" in help_text.split("examples:")[1]
    assert sub.choices[command].description, command  # type: ignore[index]


class _ClosedPipe(io.TextIOBase):
    """A stdout whose reader has gone away (``abwb ... | head`` after head exits)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def fileno(self) -> int:
        return self.fd


def test_broken_pipe_ends_quietly(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    read_fd, write_fd = os.pipe()
    try:
        monkeypatch.setattr(sys, "stdout", _ClosedPipe(write_fd))
        assert main(["validate", str(DEMO)]) == 141
    finally:
        monkeypatch.undo()
        os.close(read_fd)
        os.close(write_fd)
    assert "Traceback" not in capsys.readouterr().err
