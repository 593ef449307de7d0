"""How the CLI lays out results in a terminal: tables when they fit, lists when narrow.

What belongs here: :func:`print_table` (a rich table at the console's width, or one
block per row with ``column: value`` lines when the table would not fit, so nothing is
cut or folded into unreadable slivers at 80 columns), :func:`plural` and
:func:`exit_quietly_on_broken_pipe` for ``abwb ... | head``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

__all__ = ["exit_quietly_on_broken_pipe", "plural", "print_table"]


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``n`` and the noun, singular for exactly one.

    Examples:
        >>> plural(1, "segment"), plural(3, "segment"), plural(2, "query", "queries")
        ('1 segment', '3 segments', '2 queries')
    """
    return f"{n:,} {noun if n == 1 else (many or noun + 's')}"


def print_table(
    console: Console,
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right: Sequence[str] = (),
    heading: int = 1,
) -> bool:
    """Print a table if it fits the console's width, else a list with one block per row.

    Args:
        console: Where to print (its ``width`` decides).
        title: Table title.
        columns: Column names.
        rows: Cells (rich markup allowed), one sequence per row.
        right: Columns aligned right in the table.
        heading: How many leading cells name a row in the list view (joined by " · ").

    Returns:
        Whether the table view was used.
    """
    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, justify="right" if col in right else "left", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    needed = Measurement.get(console, console.options.update(max_width=10_000), table).maximum
    if needed <= console.width:
        console.print(table)
        return True
    console.print(f"[italic]{title}[/]")
    for row in rows:
        name = " · ".join(cell for cell in row[:heading] if cell)
        console.print(f"[bold]{name}[/]" if name else "")
        items = [
            f"{col}: {cell}"
            for col, cell in zip(columns[heading:], row[heading:], strict=True)
            if cell
        ]
        for line in _packed(console, items, width=console.width - 2):
            console.print(f"  {line}", soft_wrap=True)
    return False


def _packed(console: Console, items: Sequence[str], *, width: int) -> list[str]:
    """Items joined by " · " into lines of at most ``width`` cells, never split."""
    lines: list[str] = []
    for item in items:
        candidate = f"{lines[-1]} · {item}" if lines else item
        if lines and _cells(console, candidate) <= width:
            lines[-1] = candidate
        else:
            lines.append(item)
    return lines


def _cells(console: Console, markup: str) -> int:
    return console.render_str(markup).cell_len


def exit_quietly_on_broken_pipe(run: Callable[[], int]) -> int:
    """Run ``run``; when stdout's reader goes away (``| head``), exit without a traceback."""
    try:
        code = run()
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit; point it at devnull so that cannot fail.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # what a shell reports for a process ended by SIGPIPE
    return code
