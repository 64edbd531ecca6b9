"""Training a reranker from the index: headings, pseudo-queries, mining, a tiny real run."""

import json
from pathlib import Path

import pytest

from crossrank import Pipeline
from crossrank import evaluate as ev
from crossrank._headings import headings, section_paths, strip_headings
from crossrank.errors import IngestError
from crossrank.train import (
    Example,
    mine,
    pseudo_queries,
    qrels_examples,
    read_pairs,
)


def test_headings_of_markdown_and_rest():
    text = (
        "=====\nGuide\n=====\n\nintro\n\nInstall\n-------\n\nsteps\n\n"
        "```\n# not a heading\n```\n\nLinux\n~~~~~\n\napt\n\nUse\n---\n\nrun\n"
    )
    assert [(level, title) for _, _, level, title in headings(text)] == [
        (1, "Guide"),
        (2, "Install"),
        (3, "Linux"),
        (2, "Use"),
    ]
    starts, paths = section_paths(text)
    assert paths == ["", "Guide", "Guide > Install", "Guide > Install > Linux", "Guide > Use"]
    assert [text[start:].split("\n")[0] for start in starts[1:]] == [
        "=====",
        *"Install Linux Use".split(),
    ]
    assert strip_headings(text).split() == "intro steps ``` # not a heading ``` apt run".split()
    markdown = "Title\n=====\n\ntext\n\n## Part\n\nmore\n\nSub\n---\n\nend\n"
    paths = section_paths(markdown)[1]
    assert paths == ["", "Title", "Title > Part", "Title > Sub"]


def test_markdown_chunks_carry_their_section(markdown_store):
    found = markdown_store.collection.get(include=["documents", "metadatas"])
    sections = {meta["section"] for meta in found["metadatas"]}
    assert "Statements > assert > assert details" in sections
    for text, meta in zip(found["documents"], found["metadatas"], strict=True):
        first = text.splitlines()[0]
        if first.startswith("## "):  # a chunk starting at a heading belongs to its section
            assert meta["section"].endswith(first[3:])
        assert strip_headings(text)  # no chunk is a bare heading


def test_pseudo_queries_and_mined_negatives(markdown_store, markdown_topics):
    examples = pseudo_queries(markdown_store)
    queries = [example.query for example in examples]
    expected = {f"{title} > {name}" for title, names in markdown_topics.items() for name in names}
    assert expected <= set(queries) and len(queries) == len(set(queries))
    assert "Statements > assert > assert details" in queries
    by_query = {example.query: example for example in examples}
    # a heading without text of its own ("# Statements") goes with the next section
    assert by_query["Statements > assert"].positive.startswith("# Statements\n\n## assert\n")

    rows = mine(Pipeline(markdown_store), examples, negatives=2, depth=30, seed=3)
    assert rows == mine(Pipeline(markdown_store), examples, negatives=2, depth=30, seed=3)
    assert len(rows) == len(examples)
    found = markdown_store.collection.get(include=["documents", "metadatas"])
    section_of = {
        strip_headings(text): meta["section"]
        for text, meta in zip(found["documents"], found["metadatas"], strict=True)
    }
    for row in rows:
        assert list(row) == ["query", "positive", "negative_1", "negative_2"]
        assert not any(line.startswith("#") for line in row["positive"].splitlines())
        for negative in (row["negative_1"], row["negative_2"]):
            section = section_of[negative]  # never the query's section or one below it
            assert section != row["query"] and not section.startswith(row["query"] + " > ")


def test_pairs_and_qrels_examples(tmp_path: Path, memory_store):
    good = tmp_path / "pairs.jsonl"
    good.write_text('{"query": "q1", "passage": "p1"}\n\n{"query": "q2", "passage": "p2"}\n')
    assert read_pairs(good) == [Example("q1", "p1"), Example("q2", "p2")]
    for content, message in [
        ('{"query": "q"}\n', r"bad\.jsonl:1: expected a JSON object"),
        ('{"query": "q", "passage": "p"}\nnot json\n', r"bad\.jsonl:2:"),
        ('{"query": " ", "passage": "p"}\n', r"bad\.jsonl:1: empty query"),
        ("\n", r"no training pairs"),
    ]:
        (tmp_path / "bad.jsonl").write_text(content)
        with pytest.raises(IngestError, match=message):
            read_pairs(tmp_path / "bad.jsonl")
    with pytest.raises(IngestError, match="cannot read"):
        read_pairs(tmp_path / "missing.jsonl")

    data = ev.Dataset(
        corpus={"d1": ("", "Paris is the capital of France."), "d2": ("", "Rome is in Italy.")},
        queries={"q1": "capital of France?", "q2": "where is Rome?"},
        qrels={"q1": {"d1": 1, "d2": 0}, "q2": {"d2": 1}},
    )
    ev.index_corpus(memory_store, data)
    examples = qrels_examples(memory_store, data, ["q1"])
    assert examples == [
        Example("capital of France?", "Paris is the capital of France.", sources=frozenset({"d1"}))
    ]


def test_beir_sections_become_pseudo_queries(tmp_path: Path, memory_store):
    (tmp_path / "qrels").mkdir()
    rows = [
        {"_id": "a#1.0", "title": "A", "text": "first part", "metadata": {"section": "A > One"}},
        {"_id": "a#1.1", "title": "A", "text": "second part", "metadata": {"section": "A > One"}},
        {"_id": "a#2.0", "title": "A", "text": "other", "metadata": {"section": "A > Two"}},
        {"_id": "b#0.0", "title": "B", "text": "no section here"},
    ]
    (tmp_path / "corpus.jsonl").write_text("\n".join(json.dumps(row) for row in rows))
    (tmp_path / "queries.jsonl").write_text('{"_id": "q", "text": "one?"}\n')
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq\ta#1.0\t1\n")
    data = ev.load_beir(tmp_path)
    assert data.sections == {"a#1.0": "A > One", "a#1.1": "A > One", "a#2.0": "A > Two"}
    ev.index_corpus(memory_store, data)
    examples = pseudo_queries(memory_store)
    assert [(e.query, e.positive) for e in examples] == [
        ("A > One", "A\nfirst part"),  # the section's first passage, by natural id order
        ("A > Two", "A\nother"),
    ]
