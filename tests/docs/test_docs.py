"""Every Python and shell block of the docs runs, and what it prints is what the docs show.

The blocks run in a process of their own (``run_docs.py``: tiny models under the default
names, in a private Hugging Face cache set before any Hugging Face library is imported);
this test starts it once and reads its report. The convention is in docs/contributing.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from run_docs import blocks, commands  # noqa: E402


def test_every_docs_block_runs_and_prints_what_the_docs_show(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, str(HERE / "run_docs.py"), "--report", str(report)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert report.exists(), done.stdout + done.stderr
    results = json.loads(report.read_text())
    counts = Counter(result["status"] for result in results)
    summary = done.stdout.strip().splitlines()[-1]
    print(summary)  # noqa: T201 (the counts, shown by pytest -rA or -s)
    failed = [r for r in results if r["status"] == "failed"]
    assert not failed, "\n\n".join(f"{r['page']}:{r['line']}\n{r['error']}" for r in failed)
    assert done.returncode == 0, done.stdout + done.stderr
    # Skips stay a small minority and each says why; outputs are checked, not only run.
    skipped = [r for r in results if r["status"] == "skipped"]
    assert all(r["reason"] for r in skipped)
    assert len(skipped) <= counts["ran"] // 3, [f"{r['page']}:{r['line']}" for r in skipped]
    assert sum(r["kind"] == "output" for r in results) >= 20
    assert {r["page"] for r in results if r["status"] == "ran"} >= {
        "README.md",
        "docs/getting-started.md",
        "docs/tutorials/langchain-rag.md",
        "docs/tutorials/llama-index-rag.md",
        "docs/tutorials/served-reranker.md",
        "docs/tutorials/mcp-agent.md",
    }


def test_blocks_are_read_with_their_markers(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Text.\n\n<!-- docs-test: skip (needs a GPU) -->\n```python\nimport torch\n```\n\n"
        "```bash\ncrossrank ask \\\n  'x' --top-n 2\necho '{\n  \"a\": 1}'\n```\n"
        "<!-- docs-test: output -->\n```text\n...\n```\n\n- item\n\n    ```py\n    x = 1\n    ```\n"
    )
    # blocks() reports paths relative to the repository; a page outside it is read as one.
    page_in_repo = ROOT / "tests" / "docs" / f".{tmp_path.name}.md"
    page_in_repo.write_text(page.read_text())
    try:
        found = blocks(page_in_repo)
    finally:
        page_in_repo.unlink()
    assert [(b.kind, b.mark, b.reason) for b in found] == [
        ("python", "skip", "needs a GPU"),
        ("shell", None, ""),
        (None, "output", ""),
        ("python", None, ""),
    ]
    assert found[3].code == "x = 1\n"
    assert commands(found[1].code) == ["crossrank ask    'x' --top-n 2", "echo '{\n  \"a\": 1}'"]


def test_a_skip_without_its_reason_is_refused(tmp_path: Path) -> None:
    page = ROOT / "tests" / "docs" / f".{tmp_path.name}.md"
    page.write_text("<!-- docs-test: skip -->\n```bash\nmake test\n```\n")
    try:
        with pytest.raises(ValueError, match="a skip needs its reason"):
            blocks(page)
    finally:
        page.unlink()


def test_a_command_that_changes_the_environment_must_be_marked(tmp_path: Path) -> None:
    from run_docs import Block, Page, run_shell

    for line in ["pip install crossrank", "python -m pip install x", "make test", "uv pip sync"]:
        with pytest.raises(AssertionError, match="mark the block"):
            run_shell(Block("page.md", 1, "bash", line + "\n"), Page(tmp_path / "page.md"))
