"""``crossrank mcp`` driven by real MCP clients: the official SDK's over stdio and streamable
HTTP, langchain-mcp-adapters and llama-index-tools-mcp."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from crossrank import Encoder, Store

pytestmark = pytest.mark.slow

QUESTION = "How do I leave a loop early?"


@pytest.fixture(scope="module")
def mcp_args(tmp_path_factory, sample_corpus: Path, tiny_encoder_path, tiny_reranker_path):
    """``crossrank mcp`` options over an indexed store (tiny models), indexing allowed in
    one folder."""
    root = tmp_path_factory.mktemp("mcp")
    Store(root / "db", encoder=Encoder(tiny_encoder_path)).index([sample_corpus], chunk_size=48)
    allowed = root / "allowed"
    allowed.mkdir()
    (allowed / "walrus.txt").write_text("The walrus operator assigns inside expressions.")
    return ["mcp", "--db", str(root / "db"), "--model", tiny_encoder_path,
            "--reranker", tiny_reranker_path, "--allow-index", str(allowed)]  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1"}


def _command(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "crossrank.cli", *args]


@contextmanager
def _serving_http(
    args: list[str], env: dict[str, str] | None = None, log: Path | None = None
) -> Iterator[str]:
    """``crossrank mcp --transport http ARGS`` on a free port: its /mcp URL (on loopback).
    Its stderr goes to ``log`` when given."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = [*args, "--transport", "http", "--port", str(port)]
    stderr = log.open("w") if log else subprocess.PIPE
    server = subprocess.Popen(_command(args), env={**_env(), **(env or {})}, stderr=stderr)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else log
                assert time.monotonic() < deadline, "crossrank mcp did not start"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.terminate()
        server.wait(30)
        if log:
            stderr.close()  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def http_url(mcp_args) -> Iterator[str]:
    """``crossrank mcp --transport http`` on loopback, without a key."""
    with _serving_http(mcp_args) as url:
        yield url


async def _exercise(session, allowed: Path) -> None:
    """Every tool and every bad call, through one MCP client session."""
    listed = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(listed) == {"search", "fetch", "list_sources", "index"}
    assert "cited context" in listed["search"].description
    assert set(listed["search"].inputSchema["properties"]) == {"query", "top_n", "where"}
    assert listed["search"].outputSchema and listed["fetch"].outputSchema

    found = await session.call_tool("search", {"query": QUESTION, "top_n": 3})
    assert not found.isError
    assert found.content[0].text.startswith("[1] ")  # the cited context, for the LLM
    results = found.structuredContent["results"]
    assert len(results) == 3 and results[0]["source"].endswith(".txt")
    assert all(0 <= result["score"] <= 1 for result in results)
    assert found.structuredContent["context"] == found.content[0].text

    first = results[0]["id"]
    fetched = (await session.call_tool("fetch", {"id": first, "neighbours": 1})).structuredContent
    ids = [chunk["id"] for chunk in fetched["chunks"]]
    assert first in ids and 1 <= len(ids) <= 3
    indices = [chunk["metadata"]["chunk_index"] for chunk in fetched["chunks"]]
    assert indices == sorted(indices)

    sources = (await session.call_tool("list_sources", {})).structuredContent["sources"]
    assert len(sources) >= 8 and all(s["chunks"] > 0 and s["last_indexed"] for s in sources)

    refused = {
        "search": [
            ({"query": "  "}, "query is empty"),
            ({"query": QUESTION, "topn": 3}, "takes no argument topn"),
            ({"query": QUESTION, "where": {"$nope": 1}}, "Invalid where clause"),
        ],
        "fetch": [({"id": "no-such-chunk"}, "no chunk 'no-such-chunk'")],
        "index": [({"paths": ["/etc"]}, "outside the folders allowed")],
    }
    for tool, calls in refused.items():
        for arguments, message in calls:
            answer = await session.call_tool(tool, arguments)
            assert answer.isError, (tool, arguments)
            assert message in answer.content[0].text, answer.content[0].text
    indexed = await session.call_tool("index", {"paths": [str(allowed)]})
    assert not indexed.isError and indexed.structuredContent["files"] == 1
    again = await session.call_tool("search", {"query": "walrus operator"})
    assert not again.isError  # still serving after the errors


async def test_stdio_with_the_official_client(mcp_args):
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    command = _command(mcp_args)
    params = StdioServerParameters(command=command[0], args=command[1:], env=_env())
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        await _exercise(session, Path(mcp_args[-1]))


async def test_streamable_http_with_the_official_client(http_url, mcp_args):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async with (
        streamablehttp_client(http_url) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        await _exercise(session, Path(mcp_args[-1]))


def test_stdout_carries_only_protocol_messages(mcp_args, tmp_path):
    """Model loading, warnings and logs go to stderr: every stdout line is JSON-RPC."""
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "search", "arguments": {"query": QUESTION}}},
    ]  # fmt: skip
    log = (tmp_path / "stderr").open("w")
    server = subprocess.Popen(
        _command(["--verbose", *mcp_args]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=_env(),
    )
    assert server.stdin and server.stdout
    killer = threading.Timer(120, server.kill)
    killer.start()
    try:
        server.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
        server.stdin.flush()
        lines: list[str] = []
        while not lines or json.loads(lines[-1]).get("id") != 2:
            line = server.stdout.readline()
            assert line, f"stdout ended: {lines}"
            lines.append(line)
        server.stdin.close()
        server.wait(60)
    finally:
        killer.cancel()
        server.kill()
        log.close()
    stderr = (tmp_path / "stderr").read_text()
    assert [json.loads(line)["jsonrpc"] for line in lines] == ["2.0", "2.0"], lines
    assert json.loads(lines[1])["result"]["content"][0]["text"].startswith("[1] ")
    assert "INFO" in stderr  # --verbose logs went to stderr


def test_a_store_that_does_not_exist_is_a_tool_error(tmp_path, crossrank_process):
    import anyio
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    async def main() -> str:
        command = _command(["mcp", "--db", str(tmp_path / "none"), "--no-rerank"])
        params = StdioServerParameters(command=command[0], args=command[1:], env=_env())
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            answer = await session.call_tool("search", {"query": QUESTION})
            assert answer.isError
            return str(answer.content[0].text)

    assert "does not exist: index documents first" in anyio.run(main)


async def test_langchain_mcp_adapters(http_url):
    from langchain_mcp_adapters.client import MultiServerMCPClient

    client = MultiServerMCPClient({"crossrank": {"url": http_url, "transport": "streamable_http"}})
    tools = {tool.name: tool for tool in await client.get_tools()}
    assert {"search", "fetch", "list_sources"} <= set(tools)
    answer = await tools["search"].ainvoke({"query": QUESTION, "top_n": 2})
    text = answer if isinstance(answer, str) else answer[0]["text"]
    assert text.startswith("[1] ")


async def test_llama_index_tools_mcp(http_url):
    from llama_index.tools.mcp import BasicMCPClient, McpToolSpec

    tools = {
        t.metadata.name: t for t in await McpToolSpec(BasicMCPClient(http_url)).to_tool_list_async()
    }
    assert {"search", "fetch", "list_sources"} <= set(tools)
    answer = await tools["search"].acall(query=QUESTION, top_n=2)
    assert "[1] " in str(answer.content)


KEY = "mcp-test-key"
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {},
    "clientInfo": {"name": "test", "version": "1"}}}  # fmt: skip


async def _tool_names(url: str, headers: dict[str, str] | None = None) -> set[str]:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async with (
        streamablehttp_client(url, headers=headers) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        return {tool.name for tool in (await session.list_tools()).tools}


async def test_http_with_an_api_key_answers_only_the_right_bearer_key(mcp_args):
    """Bound to every interface, with the key from CROSSRANK_API_KEY: the official client
    with the key works; without it, or with another, every request is a 401."""
    import httpx
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    args = [*mcp_args, "--host", "0.0.0.0"]
    with _serving_http(args, env={"CROSSRANK_API_KEY": KEY}) as url:
        headers = {"Accept": "application/json, text/event-stream"}
        async with httpx.AsyncClient(timeout=30) as client:
            for key in (None, "wrong", f"{KEY}x"):
                sent = {**headers, **({"Authorization": f"Bearer {key}"} if key else {})}
                refused = await client.post(url, json=INITIALIZE, headers=sent)
                assert refused.status_code == 401, (key, refused.text)
                assert refused.headers["www-authenticate"] == "Bearer"
                assert "send Authorization: Bearer KEY" in refused.json()["message"]
            basic = await client.post(
                url,
                json=INITIALIZE,
                headers={**headers, "Authorization": "Basic eDptY3AtdGVzdC1rZXk="},
            )
            assert basic.status_code == 401  # the key as a Basic password is the page's, not MCP's

        with pytest.raises(Exception) as raised:  # the SDK's client gives up on the 401
            await _tool_names(url)
        assert raised.group_contains(httpx.HTTPStatusError, match="401 Unauthorized")

        bearer = {"Authorization": f"Bearer {KEY}"}
        async with (
            streamablehttp_client(url, headers=bearer) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            found = await session.call_tool("search", {"query": QUESTION, "top_n": 2})
            assert not found.isError and found.content[0].text.startswith("[1] ")


def test_http_on_another_interface_without_a_key_is_refused(crossrank, mcp_args):
    """Refused before any model loads, saying why and what to do; exit status 2."""
    for host in ("0.0.0.0", "::", "192.0.2.7", "example.org"):
        done = crossrank(
            *mcp_args, "--transport", "http", "--host", host, env={"CROSSRANK_API_KEY": ""}
        )
        assert done.returncode == 2, done.stderr
        assert f"refusing to serve MCP on {host} without an API key" in done.stderr
        assert "--api-key" in done.stderr and "--insecure" in done.stderr


async def test_http_on_another_interface_with_insecure_serves_without_a_key(mcp_args, tmp_path):
    args = [*mcp_args, "--host", "0.0.0.0", "--insecure"]
    log = tmp_path / "stderr"
    with _serving_http(args, env={"CROSSRANK_API_KEY": ""}, log=log) as url:
        assert await _tool_names(url) == {"search", "fetch", "list_sources", "index"}
    assert "serving MCP on 0.0.0.0 without an API key (--insecure)" in log.read_text()
