"""nbval's execution of each chapter, recorded as the runner's run of it.

``make test`` has nbval execute every chapter exported by ``gcrl export-notebooks``: the very
notebook papermill would execute, parameters injected. When every cell of a chapter passes,
this plugin writes the executed notebook and the run record (``gcrl.course.runner.record_run``)
into the chapter's results folder, as ``gcrl run`` would. The smoke book that the book and
browser tests build afterwards from the same folder then reuses those runs instead of
executing every chapter a second time. A chapter with a failing cell is not recorded: the
book build executes it again, and fails with its own message.

A chapter's injected ``inputs_digest`` is the digest of its inputs when it was exported, and a
chapter that reads other chapters' results has another once they have run; so when nbval starts
a chapter, this plugin injects the digest ``run_chapter`` would pass at that moment, and records it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from ipykernel.ipkernel import IPythonKernel
from nbval.plugin import IPyNbCell

from gcrl.core.io import atomic_path
from gcrl.core.paths import Layout, chapter_results
from gcrl.core.provenance import utc_now
from gcrl.course.runner import Chapter, input_digest, record_run, select

NAME = "gcrl-nbval-runs"


@dataclass
class _Execution:
    chapter: Chapter
    layout: Layout
    profile: str
    seed: int
    digest: str
    started_at: str
    t0: float
    outputs: dict[int, list] = field(default_factory=dict)
    failed: bool = False


class NbvalRuns:
    """Pytest plugin: watches nbval's cells and records each fully passing chapter as a run."""

    def __init__(self) -> None:
        self._executions: dict[Path, _Execution] = {}
        #: The results folder of the runs recorded so far (None until one chapter is recorded).
        self.results: Path | None = None
        self.profile: str | None = None

    def _start(self, item: IPyNbCell) -> None:
        parameters = item.parent.nb.metadata.get("papermill", {}).get("parameters")
        if parameters is None:
            return  # not exported by gcrl export-notebooks: nothing to record
        layout = Layout.default(results=parameters["results_root"])
        chapter = select(layout, [Path(item.parent.fspath).stem])[0]
        digest = input_digest(chapter, layout, parameters["profile"], parameters["seed"])
        # No cell has run yet: the kernel executes what run_chapter would give papermill now.
        _inject(item.parent.nb, {**parameters, "inputs_digest": digest})
        self._executions[Path(item.parent.fspath)] = _Execution(
            chapter, layout, parameters["profile"], parameters["seed"], digest, utc_now(), time.perf_counter())

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item):
        if isinstance(item, IPyNbCell) and item.cell_num == 0:
            self._start(item)
        yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        report = (yield).get_result()
        execution = self._executions.get(Path(item.fspath)) if isinstance(item, IPyNbCell) else None
        if execution is None or report.when != "call":
            return
        if report.passed:
            execution.outputs[item.cell_num] = item.test_outputs or []
        else:
            execution.failed = True
        if item.cell_num == sum(cell.cell_type == "code" for cell in item.parent.nb.cells) - 1:
            if not execution.failed:
                self._record(execution, item.parent.nb)

    def _record(self, execution: _Execution, source: nbformat.NotebookNode) -> None:
        notebook = nbformat.from_dict(source)
        code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
        for number, cell in enumerate(code_cells):
            cell.execution_count = number + 1
            cell.outputs = [_output(out, number + 1) for out in execution.outputs[number]]
        # What papermill's kernel reports; the book reads the lexer from it. nbval's kernel is the same ipykernel.
        notebook.metadata["language_info"] = dict(IPythonKernel.language_info)
        nbformat.validate(notebook)
        folder = chapter_results(execution.profile, execution.chapter.chapter_id, execution.layout.results)
        path = folder / f"{execution.chapter.stem}.ipynb"
        with atomic_path(path) as partial:
            nbformat.write(notebook, partial)
        record_run(execution.chapter, path, execution.digest, execution.profile, execution.seed,
                   execution.started_at, time.perf_counter() - execution.t0)
        self.results, self.profile = execution.layout.results, execution.profile


def _inject(notebook: nbformat.NotebookNode, parameters: dict) -> None:
    """Rewrite the notebook's injected-parameters cell in place, as papermill writes it for ``parameters``.

    In place, because nbval's items hold the cells themselves and read a cell's source when they execute it.
    """
    from papermill.translators import translate_parameters

    cell = next(c for c in notebook.cells if "injected-parameters" in c.metadata.get("tags", []))
    cell.source = translate_parameters("python3", "python", parameters, "Parameters")
    notebook.metadata.papermill["parameters"] = parameters


def _output(out: nbformat.NotebookNode, execution_count: int) -> nbformat.NotebookNode:
    """One of nbval's captured outputs as a notebook output (nbval keeps the message type and content)."""
    kind = out["output_type"]
    if kind == "stream":
        return nbformat.v4.new_output("stream", name=out["name"], text=out["text"])
    if kind == "execute_result":
        return nbformat.v4.new_output("execute_result", data=out["data"], metadata=out.get("metadata", {}),
                                      execution_count=execution_count)
    if kind == "display_data":
        return nbformat.v4.new_output("display_data", data=out["data"], metadata=out.get("metadata", {}))
    raise ValueError(f"nbval captured an output of type {kind!r}, which a passing cell does not produce")
