"""The README's main job runs and shows assignments, reasons and the measured split."""

from __future__ import annotations

import pytest

from abwb.cli import main


def test_demo_prints_assignments_reasons_and_split(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--users", "3000"]) == 0
    out = capsys.readouterr().out
    for expected in ("Sample users", "Measured split", "checkout-redesign", "override", "SRM"):
        assert expected in out


def test_unknown_command_exits_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2
