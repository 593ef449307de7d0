"""Running the readout notebook unattended: papermill, kernel, artefacts, failures.

What belongs here: :func:`run_readout` (validate the parameters and build the
readout in-process — once —, write ``results.json`` and save the readout, execute
``readout.ipynb`` with papermill, which loads and presents that saved readout, export
the HTML without input cells), :func:`ensure_kernel` (a kernel
spec that runs the current interpreter, installed into ``sys.prefix`` when
missing) and :class:`NotebookFailed`, which names the failing cell.

Artefacts go to ``<reports_dir>/<key>/<as_of>/``: ``readout.ipynb`` (executed,
kept on failure), ``readout.html``, ``results.json`` and ``readout.pkl`` (the saved
readout both were made from).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from abwb.errors import AbwbError
from abwb.metrics import check_tables, warehouse_source
from abwb.readout.build import build_readout, last_complete_day
from abwb.readout.model import ReadoutParameters, ReadoutResult
from abwb.readout.report import export_html, report_dir, save_readout, write_results
from abwb.settings import Settings

__all__ = ["KERNEL_NAME", "NotebookFailed", "ReadoutRun", "ensure_kernel", "execute_notebook",
           "kernel_manager_class", "notebook_path", "run_readout"]

#: Kernel spec name the runner executes notebooks with.
KERNEL_NAME = "python3"


class NotebookFailed(AbwbError):
    """A notebook cell raised; names the cell and keeps the executed notebook.

    Attributes:
        cell_index: Index of the failing code cell in the notebook.
        first_line: First line of the cell's source.
        error: ``ErrorName: message`` of the exception raised in the kernel.
        notebook: Path of the executed (failed) notebook.
    """

    def __init__(self, *, cell_index: int, first_line: str, error: str, notebook: Path) -> None:
        self.cell_index = cell_index
        self.first_line = first_line
        self.error = error
        self.notebook = notebook
        super().__init__(
            f"notebook cell {cell_index} ({first_line!r}) failed: {error}; "
            f"failed notebook kept at {notebook}"
        )


@dataclass(frozen=True, slots=True)
class ReadoutRun:
    """The artefacts of one readout run."""

    readout: ReadoutResult
    directory: Path
    notebook: Path
    html: Path
    results: Path


def notebook_path() -> Path:
    """The readout notebook shipped with the repository (``notebooks/readout.ipynb``)."""
    here = Path(str(resources.files("abwb"))).parent / "notebooks" / "readout.ipynb"
    return here


def ensure_kernel(name: str = KERNEL_NAME) -> str:
    """Make sure a kernel spec ``name`` exists that runs this interpreter.

    The venv's ipykernel ships ``python3``; when it is missing (a bare install) the
    spec is installed into ``sys.prefix`` (no user or system directories touched).

    Args:
        name: Kernel spec name.

    Returns:
        The kernel name to pass to papermill.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        spec = manager.get_kernel_spec(name)
        if spec.argv and Path(spec.argv[0]).resolve() == Path(sys.executable).resolve():
            return name
        if spec.argv and spec.argv[0] in ("python", "python3", "{python}"):
            return name
    except NoSuchKernel:
        pass
    from ipykernel.kernelspec import install

    install(kernel_name=name, prefix=sys.prefix)
    return name


def kernel_manager_class() -> type:
    """The kernel manager the runner starts kernels with: ZeroMQ over Unix sockets.

    Over TCP, jupyter_client picks five free ports, closes them and the kernel binds
    them a moment later; any process opening a connection in between can take one,
    and the kernel dies with "Address already in use" — a scheduled readout on a
    busy host failed that way. IPC sockets live in a private temporary directory
    (removed at shutdown), so there is no port to lose and no other user can
    connect.

    Returns:
        An ``AsyncKernelManager`` subclass for papermill's ``kernel_manager_class``.
    """
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            self._socket_dir = tempfile.mkdtemp(prefix="abwb-kernel-")
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("ip", str(Path(self._socket_dir) / "k"))
            super().__init__(**kwargs)

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart=restart)
            if not restart:
                shutil.rmtree(self._socket_dir, ignore_errors=True)

    return IPCKernelManager


def _failure(nb_path: Path) -> NotebookFailed:
    import nbformat

    nb = nbformat.read(str(nb_path), as_version=4)
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                first = next((ln for ln in cell.source.splitlines() if ln.strip()), "")
                return NotebookFailed(
                    cell_index=index, first_line=first.strip(),
                    error=f"{output.get('ename')}: {output.get('evalue')}", notebook=nb_path,
                )
    return NotebookFailed(cell_index=-1, first_line="", error="unknown error", notebook=nb_path)


def execute_notebook(
    source: Path, target: Path, parameters: Mapping[str, Any], *, cwd: Path | None = None
) -> None:
    """Execute ``source`` into ``target`` with papermill.

    Args:
        source: Notebook to run.
        target: Where the executed notebook is written (also on failure).
        parameters: Values injected after the ``parameters`` cell.
        cwd: Working directory of the kernel.

    Raises:
        NotebookFailed: A cell raised; the failed notebook is kept at ``target``.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    try:
        papermill.execute_notebook(
            str(source), str(target), parameters=dict(parameters),
            kernel_name=ensure_kernel(), kernel_manager_class=kernel_manager_class(),
            progress_bar=False, log_output=False, cwd=str(cwd) if cwd else None,
            # The kernel's own start-up warnings (e.g. TCP transport) are not the reader's
            # business; errors still surface through the executed cells.
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
    except PapermillExecutionError:
        raise _failure(target) from None


def run_readout(
    experiment_key: str,
    *,
    settings: Settings,
    today: date,
    as_of: date | str | None = None,
    engine: str = "frequentist",
    alpha: float | None = None,
    metrics: Any = None,
    extra_parameters: Mapping[str, Any] | None = None,
    notebook: Path | None = None,
    warehouse: str | None = None,
    warehouse_tables: str | None = None,
) -> ReadoutRun:
    """Run one readout end to end and write its artefacts.

    The readout is built in-process, once, so a bad parameter or unknown experiment
    fails fast with a clear message before any kernel starts. ``results.json`` is
    written from it and it is saved beside; the notebook receives its path
    (``readout_path``) and presents that very object, so the HTML and the JSON carry
    the same numbers even while the window is still open.

    Args:
        experiment_key: Experiment to read out.
        settings: Process settings (database, reports directory, default alpha).
        today: The current date (the default ``as_of`` is the day before: the last
            complete day).
        as_of: Last day of data (ISO string or date).
        engine: Statistics engine.
        alpha: Significance level (default ``settings.analysis.alpha``).
        metrics: Metric keys (default the experiment's own).
        extra_parameters: Further notebook parameters (``-p NAME VALUE``).
        notebook: Notebook to execute (default :func:`notebook_path`).
        warehouse: Warehouse URL the metric pipeline runs in (``postgresql://...``,
            ``local[N]``, ``sc://host:port``; default ``settings.analysis.warehouse_url``,
            unset: the event store). See docs/warehouse.md for the tables it reads.
        warehouse_tables: ``exposures=TABLE,events=TABLE`` in that warehouse (default
            ``settings.analysis.warehouse_tables``; unset: the event store's tables on
            PostgreSQL, ``exposures``/``events`` on Spark). Checked before any work.

    Returns:
        The artefact paths and the readout.

    Raises:
        InvalidInput: Bad parameter.
        NotFound: Unknown experiment.
        StorageError: A warehouse table cannot be read (named), or a store failed.
        NotebookFailed: A notebook cell raised.
    """
    from abwb.store import open_stores

    params = ReadoutParameters.from_values(
        experiment_key=experiment_key, as_of=as_of,
        alpha=settings.analysis.alpha if alpha is None else alpha, engine=engine,
        metrics=metrics,
    )
    day = params.as_of or last_complete_day(today)
    source = warehouse_source(settings, url=warehouse, tables=warehouse_tables)
    if source is not None:
        check_tables(source)  # a missing table is named before any store opens
    stores = open_stores(settings)
    try:
        readout = build_readout((stores.config, stores.events), params.experiment_key,
                                as_of=day, engine=params.engine, alpha=params.alpha,
                                metrics=params.metrics, today=today, warehouse=source)
    finally:
        stores.close()
    directory = report_dir(settings.analysis.reports_dir, params.experiment_key, day)
    directory.mkdir(parents=True, exist_ok=True)
    results = write_results(readout, directory / "results.json")
    saved = save_readout(readout, directory / "readout.pkl")
    executed = directory / "readout.ipynb"
    nb_parameters: dict[str, Any] = {
        "experiment_key": params.experiment_key,
        "database_url": settings.database.effective_url,
        "database_schema": settings.database.schema,
        "warehouse_url": None if source is None else source.connection,
        "warehouse_tables": None if source is None else (
            warehouse_tables or settings.analysis.warehouse_tables),
        "as_of": day.isoformat(),
        "alpha": params.alpha,
        "engine": params.engine,
        "metrics": list(params.metrics) if params.metrics is not None else None,
        "readout_path": str(saved.resolve()),
        **(extra_parameters or {}),
    }
    execute_notebook(notebook or notebook_path(), executed, nb_parameters,
                     cwd=Path.cwd())
    html = export_html(executed, directory / "readout.html",
                       title=f"Readout — {params.experiment_key} — {day.isoformat()}")
    return ReadoutRun(readout=readout, directory=directory, notebook=executed, html=html,
                      results=results)
