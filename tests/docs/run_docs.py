"""Run the Python and shell blocks of the docs (docs/**/*.md and README.md), page by page.

Usage:
    python tests/docs/run_docs.py [PAGE.md ...] [--report FILE.json]

The convention (docs/contributing.md, "The docs' examples run"):

- A page's ```python and ```bash blocks run in order, in a fresh temporary folder holding
  ``help-topics/`` (eight CPython help topics as .txt files). Python blocks share one
  namespace per page and may use top-level ``await``.
- A shell block runs line by line (``\\`` continues a line): a plain ``crossrank ...`` line
  runs in this process through click; any other line, or one with shell syntax, in bash.
  A line ending in ``&`` starts a background process, stopped when the page ends.
- ``<!-- docs-test: output -->`` before a ```text block: what the block before printed
  (doctest's ELLIPSIS and NORMALIZE_WHITESPACE).
- ``<!-- docs-test: skip (REASON) -->`` before a block: not run, counted, with its reason.
- Models: tiny random-weight checkpoints stand in for the default encoder and reranker,
  under their own names, in a private Hugging Face cache (``HF_HUB_OFFLINE=1``).

This runs in a process of its own (tests/docs/test_docs.py starts it), so that the cache's
variables are set before any Hugging Face library is imported.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import contextlib
import doctest
import inspect
import io
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
RERANKER = "cross-encoder/ms-marco-MiniLM-L-6-v2"
TOPICS = ["assert", "break", "continue", "exceptions", "for", "import", "lambda", "try"]
RUN = {"python": "python", "py": "python", "bash": "shell", "sh": "shell", "shell": "shell"}
MARK = re.compile(r"^<!--\s*docs-test:\s*(?P<what>skip|output)\b\s*(?P<rest>.*?)\s*-->$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<ticks>`{3,})\s*(?P<info>[^`]*)$")
SHELL_SYNTAX = re.compile(r"[$`*]")  # expanded by bash even where quoted or unquoted


@dataclass
class Block:
    """One fenced block of a page."""

    page: str
    line: int
    lang: str  # the fence's first word
    code: str
    mark: str | None = None  # "skip" or "output"
    reason: str = ""  # a skip's reason

    @property
    def kind(self) -> str | None:
        """The runner of the block ("python" or "shell"), or None when it does not run."""
        return RUN.get(self.lang)


@dataclass
class Result:
    page: str
    line: int
    kind: str
    status: str  # "ran", "skipped" or "failed"
    reason: str = ""
    seconds: float = 0.0
    error: str = ""


@dataclass
class Page:
    path: Path
    background: list[subprocess.Popen] = field(default_factory=list)
    namespace: dict = field(default_factory=lambda: {"__name__": "__main__"})


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, each with the marker on the line before it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        indent, ticks = len(fence["indent"]), fence["ticks"]
        lang = (fence["info"].split() or [""])[0].lower()
        start, body = i, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(ticks):
            line = lines[i]
            body.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
            i += 1
        i += 1
        previous = next((ln.strip() for ln in reversed(lines[:start]) if ln.strip()), "")
        mark = MARK.match(previous)
        block = Block(str(path.relative_to(ROOT)), start + 1, lang, "\n".join(body) + "\n")
        if mark:
            block.mark = mark["what"]
            block.reason = mark["rest"].strip().strip("()")
            if block.mark == "skip" and not block.reason:
                raise ValueError(f"{block.page}:{block.line}: a skip needs its reason")
        found.append(block)
    return found


def commands(code: str) -> list[str]:
    """A shell block's commands: continued lines (a trailing backslash, an open quote)
    joined, blank and comment lines left out."""
    out, current = [], ""
    for raw in code.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        try:
            shlex.split(current, comments=True)
        except ValueError:  # a quote still open: the command goes on
            current += "\n"
            continue
        if current.strip() and not current.strip().startswith("#"):
            out.append(current.strip())
        current = ""
    return out


def _in_process(command: str) -> tuple[dict[str, str], list[str]] | None:
    """``(env, args)`` when ``command`` is a plain ``[VAR=value ...] crossrank ...`` line."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        return None
    env = {}
    while words and re.match(r"^[A-Za-z_]\w*=", words[0]):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    if not words or words[0] != "crossrank":
        return None
    # Shell syntax (a pipe, a redirection, a variable, a glob): bash runs the line.
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.commenters = "#"
    if any(set(token) <= set("|<>;&()") for token in lexer) or SHELL_SYNTAX.search(" ".join(words)):
        return None
    return env, words[1:]


def run_cli(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    import logging

    from click.testing import CliRunner

    from crossrank.cli import cli

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        done = CliRunner().invoke(cli, args, env=env, prog_name="crossrank")
    finally:  # the CLI sets up logging for its own process
        root.handlers[:] = handlers
        root.setLevel(level)
    if done.exception and not isinstance(done.exception, SystemExit):
        trace = "".join(traceback.format_exception(*done.exc_info))  # type: ignore[misc]
        return 1, done.stdout, done.stderr + trace
    return done.exit_code, done.stdout, done.stderr


# Commands that would change this environment (the venv, the machine) or run for minutes:
# a block holding one must be marked skip, with its reason.
REFUSED = re.compile(r"^(sudo\s+)?(pip3?|uv|apt(-get)?|conda|make)\b|python3?\s+-m\s+pip\b")


def run_shell(block: Block, page: Page) -> str:
    printed = []
    for command in commands(block.code):
        if REFUSED.search(command):
            raise AssertionError(
                f"`{command}` would change this environment or run for minutes: mark the "
                "block <!-- docs-test: skip (REASON) -->"
            )
        if command.endswith("&") and not command.endswith("&&"):
            log = open(f"background-{len(page.background)}.log", "w")  # noqa: SIM115
            page.background.append(
                subprocess.Popen(
                    ["bash", "-c", command],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            continue
        local = _in_process(command)
        if local is not None:
            code, out, err = run_cli(local[1], local[0])
        else:
            done = subprocess.run(
                ["bash", "-c", command],
                capture_output=True,
                text=True,
                timeout=120,
                start_new_session=True,
            )
            code, out, err = done.returncode, done.stdout, done.stderr
        if code != 0:
            raise AssertionError(f"`{command}` exited {code}\n{out}\n{err}")
        printed.append(out)
    return "".join(printed)


def run_python(block: Block, page: Page) -> str:
    code = compile(
        block.code, f"{block.page}:{block.line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        if code.co_flags & inspect.CO_COROUTINE:
            asyncio.run(eval(code, page.namespace))  # noqa: S307
        else:
            exec(code, page.namespace)  # noqa: S102
    return out.getvalue()


def check_output(want: str, got: str) -> None:
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    if not doctest.OutputChecker().check_output(want, got, flags):
        raise AssertionError(f"printed:\n{got}\nexpected (doctest-style):\n{want}")


def stop(page: Page) -> None:
    for process in page.background:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    for process in page.background:
        try:
            process.wait(20)
            with contextlib.suppress(ProcessLookupError):  # what bash left running
                os.killpg(process.pid, signal.SIGKILL)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def run_page(path: Path) -> list[Result]:
    from pydoc_data.topics import topics

    results: list[Result] = []
    page = Page(path)
    found = blocks(path)
    here = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="docs-page-") as folder:
        os.chdir(folder)
        corpus = Path("help-topics")
        corpus.mkdir()
        for name in TOPICS:
            (corpus / f"{name}.txt").write_text(topics[name], encoding="utf-8")
        failed = False
        printed: str | None = None
        try:
            for block in found:
                if block.mark == "output":
                    if failed:
                        continue
                    if printed is None:
                        raise ValueError(f"{block.page}:{block.line}: output after no run block")
                    start = time.perf_counter()
                    try:
                        check_output(block.code, printed)
                        status, error = "ran", ""
                    except AssertionError as problem:
                        status, error, failed = "failed", str(problem), True
                    results.append(
                        Result(
                            block.page,
                            block.line,
                            "output",
                            status,
                            error=error,
                            seconds=time.perf_counter() - start,
                        )
                    )
                    continue
                if block.kind is None:
                    continue
                if block.mark == "skip":
                    results.append(
                        Result(block.page, block.line, block.kind, "skipped", block.reason)
                    )
                    continue
                if failed:  # what follows a failed block depends on it
                    results.append(
                        Result(
                            block.page,
                            block.line,
                            block.kind,
                            "failed",
                            error="not run: an earlier block of the page failed",
                        )
                    )
                    continue
                start = time.perf_counter()
                try:
                    runner = run_python if block.kind == "python" else run_shell
                    printed = runner(block, page)
                    results.append(
                        Result(
                            block.page,
                            block.line,
                            block.kind,
                            "ran",
                            seconds=time.perf_counter() - start,
                        )
                    )
                except BaseException as problem:  # noqa: BLE001 (reported, not raised)
                    failed = True
                    error = "".join(traceback.format_exception(problem))
                    results.append(
                        Result(
                            block.page,
                            block.line,
                            block.kind,
                            "failed",
                            seconds=time.perf_counter() - start,
                            error=error,
                        )
                    )
        finally:
            stop(page)
            os.chdir(here)
            # chromadb keeps one client per path in a process, and the pages' paths are
            # relative (./.crossrank): the next page's folder must get a client of its own.
            from chromadb.api.client import SharedSystemClient

            SharedSystemClient.clear_system_cache()
            _reset_tracing()
    return results


def _reset_tracing() -> None:
    """Forget the process's OpenTelemetry provider, as a page's own process would not have
    one: an in-process `crossrank ask --trace` sets one, and a provider is set only once."""
    if "opentelemetry.trace" not in sys.modules:
        return
    from opentelemetry import trace
    from opentelemetry.util._once import Once

    from crossrank import tracing

    trace._TRACER_PROVIDER_SET_ONCE = Once()  # what OpenTelemetry's own tests reset
    trace._TRACER_PROVIDER = None
    tracing._recorder.cache_clear()
    tracing._tracer.cache_clear()


def tiny_models(cache: Path) -> None:
    """Tiny checkpoints under the default names, as a Hugging Face cache holds downloads."""
    sys.path.insert(0, str(ROOT))
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from transformers import BertModel

    from conftest import _bert_config, _cross_encoder, _tokenizer

    def snapshot(name: str) -> Path:
        repo = cache / f"models--{name.replace('/', '--')}"
        (repo / "refs").mkdir(parents=True)
        (repo / "refs" / "main").write_text("docs")
        return repo / "snapshots" / "docs"

    torch.manual_seed(0)
    encoder, bert = snapshot(ENCODER), cache / "tiny-bert"
    BertModel(_bert_config()).save_pretrained(bert)
    _tokenizer().save_pretrained(bert)
    modules = [Transformer(str(bert), max_seq_length=256), Pooling(32, "mean")]
    SentenceTransformer(modules=modules, device="cpu").save(str(encoder))
    _cross_encoder(snapshot(RERANKER), 1)


def pages(names: list[str]) -> list[Path]:
    if names:
        return [Path(name).resolve() for name in names]
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*")
    parser.add_argument("--report", type=Path, help="write each block's result here (JSON)")
    args = parser.parse_args()
    hub = os.environ["HF_HUB_CACHE"]
    try:
        tiny_models(Path(hub))
        results = [result for path in pages(args.pages) for result in run_page(path)]
    finally:
        shutil.rmtree(hub, ignore_errors=True)
    if args.report:
        args.report.write_text(json.dumps([asdict(result) for result in results], indent=1))
    for result in results:
        if result.status == "failed":
            print(f"FAILED {result.page}:{result.line} ({result.kind})\n{result.error}")  # noqa: T201
        elif result.status == "skipped":
            print(f"skipped {result.page}:{result.line}: {result.reason}")  # noqa: T201
    counts = {s: sum(r.status == s for r in results) for s in ("ran", "skipped", "failed")}
    ran, skipped, failed = counts["ran"], counts["skipped"], counts["failed"]
    print(f"docs blocks: {ran} ran, {skipped} skipped, {failed} failed")  # noqa: T201
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    # Before any Hugging Face library is imported: the tiny models' cache, offline, and the
    # console scripts of this environment (bash lines, background servers).
    _HUB = tempfile.mkdtemp(prefix="docs-hf-")
    os.environ.update(
        HF_HUB_CACHE=_HUB,
        HF_HUB_OFFLINE="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        TOKENIZERS_PARALLELISM="false",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    sys.exit(main())
