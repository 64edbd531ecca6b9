"""What MCP costs: a warm search through ``crossrank mcp`` (stdio) vs the same in process.

One store of CPython's help topics (all-MiniLM-L6-v2, the MiniLM-L6-sized cross-encoder,
default precision). Times, as medians over ``--queries`` questions asked ``--rounds``
times: ``Pipeline.search`` in process; the search tool's work in process (the search and
its cited context, ``AgentTools.search``); and the ``search`` tool called through the
official MCP client over stdio. Then a cold start: spawning ``crossrank mcp`` to its first
answer.
Usage: python mcp_overhead.py [--queries 10] [--rounds 3] [--topics 60]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from pydoc_data.topics import topics

from common import benchmark_cross_encoder

QUESTIONS = [
    "How do I leave a loop early?",
    "What does the assert statement do?",
    "How are exceptions raised?",
    "What does the with statement do?",
    "How do I import a module?",
    "What is a lambda?",
    "How does try finally work?",
    "What does continue do?",
    "How are class definitions executed?",
    "What does the global statement do?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--topics", type=int, default=60, help="help topics indexed")
    args = parser.parse_args()
    questions = QUESTIONS[: args.queries]

    from crossrank import Pipeline, Reranker, Store
    from crossrank.agent import AgentTools

    reranker_path = benchmark_cross_encoder()
    with tempfile.TemporaryDirectory() as work:
        docs = Path(work) / "docs"
        docs.mkdir()
        for name in sorted(topics)[: args.topics]:
            (docs / f"{name}.txt").write_text(topics[name], encoding="utf-8")
        store = Store(Path(work) / "db")
        report = store.index([docs])
        print(f"store: {report.chunks} chunks of {report.files} files")
        pipeline = Pipeline(store, Reranker(reranker_path).load(), top_n=10)
        tools = AgentTools(pipeline, store)
        in_process = {
            "Pipeline.search": lambda q: pipeline.search(q),
            "AgentTools.search (search + cited context)": lambda q: tools.search(q),
        }
        times: dict[str, list[float]] = {name: [] for name in [*in_process, "MCP stdio search"]}
        for name, call in in_process.items():
            call(questions[0])  # warm
            for _ in range(args.rounds):
                for question in questions:
                    started = time.perf_counter()
                    call(question)
                    times[name].append(time.perf_counter() - started)
        command = [sys.executable, "-m", "crossrank.cli", "mcp", "--db", str(Path(work) / "db"),
                   "--reranker", reranker_path, "--top-n", "10"]  # fmt: skip
        cold = asyncio.run(through_mcp(command, questions, args.rounds, times["MCP stdio search"]))
    p50 = {name: statistics.median(each) * 1000 for name, each in times.items()}
    for name, ms in p50.items():
        print(f"{name:45s} p50 {ms:7.1f} ms")
    base, work_ms = p50["Pipeline.search"], p50["AgentTools.search (search + cited context)"]
    mcp = p50["MCP stdio search"]
    print(
        f"MCP stdio over Pipeline.search: {mcp - base:+.1f} ms; over the same work in process "
        f"(search + context): {mcp - work_ms:+.1f} ms"
    )
    print(f"cold crossrank mcp (stdio), spawn to first answer: {cold:.2f} s")


async def through_mcp(
    command: list[str], questions: list[str], rounds: int, times: list[float]
) -> float:
    """Time the search tool through a new ``crossrank mcp``; return its cold start."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    started = time.perf_counter()
    params = StdioServerParameters(command=command[0], args=command[1:])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        first = await session.call_tool("search", {"query": questions[0]})
        cold = time.perf_counter() - started
        assert not first.isError, first.content
        for _ in range(rounds):
            for question in questions:
                begun = time.perf_counter()
                answer = await session.call_tool("search", {"query": question})
                times.append(time.perf_counter() - begun)
                assert not answer.isError, answer.content
    return cold


if __name__ == "__main__":
    main()
