"""The committed notebooks: clean (no outputs) and executable on a small fixture workspace."""

from __future__ import annotations

import html as html_module
import json
import math
from pathlib import Path

import nbformat
import pytest

from abwb.readout import build_readout
from abwb.readout.runner import execute_notebook
from abwb.settings import Settings
from abwb.store import open_stores

from .workspace import AS_OF, KEY

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = ["readout", "explore", "planning"]


pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("jupyter")]  # starts Jupyter kernels


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_has_no_outputs(name: str) -> None:
    nb = nbformat.read(str(NOTEBOOKS / f"{name}.ipynb"), as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:40]


@pytest.mark.parametrize("name", NAMES)
def test_first_code_cell_is_tagged_parameters_with_literals_only(name: str) -> None:
    nb = nbformat.read(str(NOTEBOOKS / f"{name}.ipynb"), as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in cells[0].metadata.get("tags", [])
    import ast

    for stmt in ast.parse(cells[0].source).body:
        assert isinstance(stmt, ast.Assign)
        ast.literal_eval(stmt.value)  # raises if not a literal
    assert "require_version" in cells[1].source


@pytest.mark.parametrize(
    ("name", "parameters"),
    [
        ("readout", {"experiment_key": KEY, "as_of": AS_OF.isoformat(), "engine": "bayesian"}),
        ("explore", {"experiment_key": KEY}),
        ("planning", {}),
    ],
)
def test_notebook_executes_on_fixture_workspace(
    name: str, parameters: dict[str, object], workspace: Settings, tmp_path: Path
) -> None:
    out = tmp_path / f"{name}.ipynb"
    execute_notebook(
        NOTEBOOKS / f"{name}.ipynb", out,
        {**parameters, **({"database_url": workspace.database.url} if name != "planning" else {})},
    )
    nb = nbformat.read(str(out), as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    text = json.dumps([o.get("data", {}).get("text/plain", "") for o in outputs])
    assert "Traceback" not in text and "object at 0x" not in text
    if name == "readout":
        assert "abwb-headline" in html and "Decision rule" in html
        assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3  # plots rendered
        opened = open_stores(workspace)
        stores = (opened.config, opened.events)
        try:
            readout = build_readout(stores, KEY, as_of=AS_OF, engine="bayesian")
        finally:
            opened.close()
        assert readout.headline in html_module.unescape(html)
        assert not math.isnan(readout.results["chance_to_win"][0])
        markdown = "".join(o.get("data", {}).get("text/markdown", "") for o in outputs)
        assert "Chance to win" in markdown and "p-values are adjusted" not in markdown
        assert "Computed" in html and "abwb " in html
    if name == "explore":
        # The one-call frame analysis comes first and renders as an HTML table.
        assert html.index("analysis, alpha = 0.05") < html.index("purchases-7d")
        assert "z-test" in html and "delta method" in html


def test_kernels_talk_over_unix_sockets_not_tcp_ports(tmp_path: Path) -> None:
    """TCP ports are chosen before the kernel binds them, so a busy host can steal one."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "from ipykernel.kernelapp import IPKernelApp\n"
        "app = IPKernelApp.instance()\nprint(app.transport, app.ip)")]
    source, out = tmp_path / "probe.ipynb", tmp_path / "probe.out.ipynb"
    nbformat.write(nb, str(source))
    execute_notebook(source, out, {})
    transport, ip = nbformat.read(str(out), as_version=4).cells[0].outputs[0]["text"].split()
    assert transport == "ipc"
    assert not Path(ip).parent.exists()  # the private socket directory is removed at shutdown
