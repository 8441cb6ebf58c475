"""Fast checks of the chapters' notebooks as stored (nothing is executed): code that fits the page,
no visible nbval markers, exercise solutions whose code is executed, and no error outputs."""

import json
import re
from functools import cache
from pathlib import Path

import pytest

CHAPTERS = sorted((Path(__file__).resolve().parent.parent / "chapters").glob("[0-9][0-9]_*.ipynb"))
MAX_COLUMNS = 88  # black's default: a code line wider than this does not fit the book's page
NBVAL_COMMENT = re.compile(r"#\s*NBVAL_")
# a fenced block of code in Markdown: ```python, ```py, ```{code-cell} ...
CODE_FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*(python|py|ipython3?|\{code-cell\})", re.MULTILINE)
# a solution as one directive, ````{solution} label ... ````, with its own fence length
SOLUTION_DIRECTIVE = re.compile(r"^(`{3,}|:{3,})\{solution\}.*?^\1\s*$", re.MULTILINE | re.DOTALL)


@cache
def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def code_cells(path: Path):
    """(number, cell) of the code cells, numbered from 1 as nbval's "Cell N" does."""
    return enumerate((c for c in cells(path) if c["cell_type"] == "code"), start=1)


def test_there_are_chapters():
    assert len(CHAPTERS) >= 7


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_code_lines_fit_the_page(path):
    too_long = [
        f"Cell {n}, line {i}: {len(line)} columns"
        for n, cell in code_cells(path)
        for i, line in enumerate(source(cell).splitlines(), start=1)
        if len(line) > MAX_COLUMNS
    ]
    assert not too_long, f"code lines longer than {MAX_COLUMNS} columns: {too_long}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_visible_nbval_comments(path):
    # nbval's markers belong in cell tags (nbval-ignore-output, ...), where readers do not see them
    marked = [f"Cell {n}" for n, cell in code_cells(path) if NBVAL_COMMENT.search(source(cell))]
    assert not marked, f"# NBVAL_ comments in {marked}: use the cell tags instead"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_solution_code_is_executed(path):
    """Code in a solution goes in code cells between solution-start and solution-end, not in Markdown."""
    found, inside = [], False  # inside: between a solution-start and its solution-end
    for index, cell in enumerate(cells(path)):
        if cell["cell_type"] != "markdown":
            continue
        text = source(cell)
        # the text of this cell that belongs to a solution
        parts = [m.group(0) for m in SOLUTION_DIRECTIVE.finditer(text)]
        for piece in re.split(r"(\{solution-start\}|\{solution-end\})", text):
            if piece == "{solution-start}":
                inside = True
            elif piece == "{solution-end}":
                inside = False
            elif inside:
                parts.append(piece)
        if any(CODE_FENCE.search(part) for part in parts):
            found.append(f"markdown cell {index}")
    assert not found, f"a solution with a code block in Markdown ({found}): make it a code cell"
    assert not inside, "a solution-start without its solution-end"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_error_outputs(path):
    errors = [
        f"Cell {n}: {out.get('ename')}: {out.get('evalue')}"
        for n, cell in code_cells(path)
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors, f"error outputs stored: {errors}"
