"""The BM25 index shared by processes: writes seen on the next query, kill -9 mid-update."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from crossrank import Encoder, Store

pytestmark = pytest.mark.slow


def _texts(store: Store, query: str) -> list[str]:
    return [hit.text for hit in store.bm25.search(query, 5)]


def _child(tmp_path: Path, encoder_path: str, body: str) -> subprocess.CompletedProcess[str]:
    script = textwrap.dedent(
        f"""
        import os, signal
        from crossrank import Encoder, Store
        from crossrank.bm25 import BM25Index
        store = Store({str(tmp_path / "db")!r}, "bm25", Encoder({encoder_path!r}, device="cpu"))
        """
    ) + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )


def test_another_process_writes_are_seen_and_its_catch_up_shared(
    tmp_path: Path, tiny_encoder_path: str, bm25_spy
):
    store = Store(tmp_path / "db", "bm25", Encoder(tiny_encoder_path, device="cpu"))
    store.add_texts(["The zebrafish swims in the river."])
    assert len(store.bm25.search("zebrafish", 5)) == 1
    done = _child(tmp_path, tiny_encoder_path, "store.add_texts(['Axolotls live in lakes.'])")
    assert done.returncode == 0, done.stderr
    assert _texts(store, "axolotls") == ["Axolotls live in lakes."]  # caught up here
    assert bm25_spy["changed"] == [1]

    body = "store.add_texts(['Capybaras bathe.']); print(len(store.bm25.search('capybaras', 5)))"
    done = _child(tmp_path, tiny_encoder_path, body)
    assert done.stdout.strip() == "1", done.stderr  # the child caught the shared index up
    assert _texts(store, "capybaras") == ["Capybaras bathe."]
    assert bm25_spy["changed"] == [1] and bm25_spy["rebuilds"] == [1]  # here it only reloaded


@pytest.mark.parametrize(
    "kill",
    [
        # after Chroma stored the records, before the collection's version moved on again
        "bumps = []\n"
        "def bump(deleted=(), original=store.collection._bump):\n"
        "    bumps.append(1)\n"
        "    if len(bumps) == 2:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    original(deleted)\n"
        "store.collection._bump = bump",
        # in the middle of the index's update, before its commit
        "BM25Index._save_state = lambda *a: os.kill(os.getpid(), signal.SIGKILL)",
    ],
    ids=["during-the-chroma-write", "during-the-index-update"],
)
def test_kill_9_mid_update_leaves_nothing_inconsistent(
    tmp_path: Path, tiny_encoder_path: str, kill: str
):
    store = Store(tmp_path / "db", "bm25", Encoder(tiny_encoder_path, device="cpu"))
    store.add_texts(["The zebrafish swims in the river."], ids=["z"])
    assert len(store.bm25.search("zebrafish", 5)) == 1
    body = (
        'store.bm25.search("river", 5)\n'
        + kill
        + '\nstore.add_texts(["The zebrafish left; an axolotl lives here."], ids=["z"])'
        + '\nstore.add_texts(["Capybaras bathe."], ids=["c"])'
        + '\nstore.bm25.search("river", 5)\n'
    )
    done = _child(tmp_path, tiny_encoder_path, body)
    assert done.returncode == -9, done.stderr
    everything = store.collection.get()
    stored = dict(zip(everything["ids"], everything["documents"], strict=True))
    for reader in (store, Store(tmp_path / "db", "bm25", store.encoder)):
        found = {hit.id: hit.text for hit in reader.bm25.search("zebrafish axolotl capybaras", 9)}
        assert found == stored  # whatever Chroma holds, the index holds: no more, no less
    assert "axolotl" in stored["z"]  # the killed write had reached Chroma
