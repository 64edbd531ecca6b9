"""Training a reranker from the index: headings, pseudo-queries, mining, a tiny real run."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from crossrank import Pipeline, Reranker
from crossrank import evaluate as ev
from crossrank._headings import headings, section_at, section_paths, strip_headings
from crossrank.errors import IngestError
from crossrank.train import (
    CARD_HEADING,
    STATE_FILE,
    Example,
    add_to_card,
    mine,
    pseudo_queries,
    qrels_examples,
    read_pairs,
    train,
)

from .test_cli import crossrank
from .test_evaluate import beir  # noqa: F401 (a fixture)

TOPICS = {
    "Statements": ["assert", "break", "continue", "pass"],
    "Compound statements": ["for", "while", "try", "with"],
}


@pytest.fixture(scope="module")
def markdown_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two Markdown files of CPython help topics, one section (and a subsection) per topic."""
    from pydoc_data.topics import topics

    out = tmp_path_factory.mktemp("markdown")
    for title, names in TOPICS.items():
        parts = [f"# {title}\n"]
        for name in names:
            text = " ".join(topics[name].split())
            parts.append(f"## {name}\n\n{text[:700]}\n\n### {name} details\n\n{text[700:1400]}\n")
        (out / f"{title.split()[0].lower()}.md").write_text("\n".join(parts), encoding="utf-8")
    return out


@pytest.fixture
def markdown_store(memory_store, markdown_corpus: Path):
    memory_store.index([markdown_corpus], chunk_size=64, chunk_overlap=8)
    return memory_store


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
    sections = section_paths(text)
    assert section_at(sections, text.index("intro")) == "Guide"
    assert section_at(sections, text.index("# not")) == "Guide > Install"
    assert section_at(sections, text.index("apt")) == "Guide > Install > Linux"
    assert section_at(sections, text.index("run")) == "Guide > Use"
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


def test_pseudo_queries_and_mined_negatives(markdown_store):
    examples = pseudo_queries(markdown_store)
    queries = [example.query for example in examples]
    expected = {f"{title} > {name}" for title, names in TOPICS.items() for name in names}
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


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory, tiny_encoder_path: str, markdown_corpus: Path) -> Path:
    """The tiny bi-encoder's encoder with a fresh head, trained a few steps (seconds)."""
    import uuid

    from crossrank import Encoder, Store

    store = Store(
        collection=f"t{uuid.uuid4().hex[:12]}",
        encoder=Encoder(tiny_encoder_path, device="cpu"),
        in_memory=True,
    )
    store.index([markdown_corpus], chunk_size=64, chunk_overlap=8)
    rows = mine(Pipeline(store), pseudo_queries(store), negatives=2, depth=10)
    out = tmp_path_factory.mktemp("trained")
    report = train(
        rows, out, base=tiny_encoder_path, batch_size=4, save_steps=2, max_length=64,
        precision="fp32", progress=False, data={"pseudo-queries": len(rows)},
    )  # fmt: skip
    assert report.steps == -(-len(rows) // 4) and report.pairs_per_step == 4 * 4
    assert report.pairs_per_second > 0 and not report.stopped_by_time
    return out


def test_training_saves_a_usable_reranker_with_a_model_card(
    trained_model: Path, tiny_encoder_path: str, markdown_corpus: Path
):
    state = json.loads((trained_model / STATE_FILE).read_text())
    assert state["data"] == {"pseudo-queries": state["examples"]}
    card = (trained_model / "README.md").read_text()
    assert CARD_HEADING in card and f"| training rows | {state['examples']} |" in card
    assert sorted(p.name for p in (trained_model / "checkpoints").iterdir())[-1].startswith(
        "checkpoint-"
    )
    trained = load_file(trained_model / "model.safetensors")
    base = load_file(Path(tiny_encoder_path) / "model.safetensors")
    name = "encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(trained[f"bert.{name}"], base[name])  # the encoder was trained

    for result in ("first", "second"):  # a rerun replaces its section, not stacks a copy
        add_to_card(trained_model, f"## Evaluation\n\n{result} result\n")
    card = (trained_model / "README.md").read_text()
    assert card.count("## Evaluation") == 1 and "second result" in card
    assert "first result" not in card and CARD_HEADING in card

    scores = Reranker(str(trained_model), precision="fp32").score("assert", ["a", "assert x"])
    assert len(scores) == 2 and all(0.0 <= s <= 1.0 for s in scores)


def test_resume_and_time_budget(trained_model: Path, tiny_encoder_path: str, tmp_path: Path):
    rows = [
        {"query": f"q{i}", "positive": f"p{i}", "negative_1": f"n{i}", "negative_2": f"m{i}"}
        for i in range(8)
    ]
    common = {"base": tiny_encoder_path, "batch_size": 4, "save_steps": 1, "progress": False}
    first = train(rows, tmp_path, epochs=1, precision="fp32", **common)
    assert first.steps == 2
    again = train(rows, tmp_path, epochs=2, resume=True, precision="fp32", **common)
    assert again.steps == 4 and again.epochs == 2.0  # went on from step 2
    stopped = train(rows, tmp_path / "budget", epochs=5, max_minutes=1e-6, **common)
    assert stopped.stopped_by_time and stopped.steps == 1
    assert (tmp_path / "budget" / "model.safetensors").exists()
    with pytest.raises(ValueError, match="no training rows"):
        train([], tmp_path / "none", **common)
    with pytest.raises(ValueError, match="same keys"):
        train([rows[0], {"query": "q", "positive": "p"}], tmp_path / "mixed", **common)


def test_train_command_then_ask_with_the_model(
    tmp_path: Path, markdown_corpus: Path, tiny_encoder_path: str
):
    common = ["--db", str(tmp_path / "db"), "--model", tiny_encoder_path]
    done = crossrank("index", str(markdown_corpus), *common, "--quiet")
    assert done.returncode == 0, done.stderr
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"query": "leave a loop early", "passage": "break ends it"}))
    out = tmp_path / "model"
    args = ["--base", tiny_encoder_path, "--batch-size", "4", "--pairs", str(pairs), "--quiet"]
    done = crossrank("train", str(out), *common, *args, "--precision", "fp32")
    assert done.returncode == 0, done.stderr
    assert f"use it with --reranker {out}" in done.stdout
    state = json.loads((out / STATE_FILE).read_text())
    assert state["data"]["labelled pairs"] == 1 and state["data"]["pseudo-queries"] > 10

    for weight in ("0", "0.5"):
        done = crossrank(
            "ask", "break", *common, "--reranker", str(out), "--retrieval-weight", weight, "--json"
        )
        assert done.returncode == 0, done.stderr
        assert all(0 <= hit["rerank_score"] <= 1 for hit in json.loads(done.stdout)["hits"])

    done = crossrank("train", str(out), "--db", str(tmp_path / "empty"), "--quiet")
    assert done.returncode != 0 and "is empty" in done.stderr


def test_trained_model_reranks_in_eval_and_both_adapters(trained_model: Path, markdown_store):
    from langchain_core.documents import Document
    from llama_index.core.schema import NodeWithScore, TextNode
    from llama_index.postprocessor.crossrank import CrossEncoderRerank

    from langchain_crossrank import CrossEncoderReranker

    reranker = Reranker(str(trained_model), retrieval_weight=0.3)
    hits = Pipeline(markdown_store, retrieval="dense").retrieve("assert", 8)
    texts = [hit.text for hit in hits]
    expected = reranker.rank("assert", texts, top_n=4)
    documents = [Document(page_content=text) for text in texts]
    compressor = CrossEncoderReranker(model=str(trained_model), top_n=4, retrieval_weight=0.3)
    docs = compressor.compress_documents(documents, "assert")
    assert [(d.page_content, d.metadata["relevance_score"]) for d in docs] == [
        (texts[i], score) for i, score in expected
    ]
    nodes = [NodeWithScore(node=TextNode(text=text), score=0.5) for text in texts]
    postprocessor = CrossEncoderRerank(str(trained_model), top_n=4, retrieval_weight=0.3)
    reranked = postprocessor.postprocess_nodes(nodes, query_str="assert")
    assert [(n.node.get_content(), n.score) for n in reranked] == [
        (texts[i], score) for i, score in expected
    ]

    data = ev.Dataset(
        corpus={"d1": ("", "assert checks a condition"), "d2": ("", "for loops over items")},
        queries={"q1": "what does assert do?"},
        qrels={"q1": {"d1": 1}},
    )
    ev.index_corpus(markdown_store, data)
    results = ev.evaluate(markdown_store, data, reranker=reranker, k=5, depth=10)
    assert set(results) == {"dense", "dense+rerank"}


def test_train_command_from_qrels_then_eval(
    beir: Path,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
    sample_corpus: Path,
    tiny_encoder_path: str,
):
    (beir / "qrels" / "train.tsv").write_text((beir / "qrels" / "test.tsv").read_text())
    common = ["--db", str(tmp_path / "db"), "--model", tiny_encoder_path, "--quiet"]
    done = crossrank("index", str(sample_corpus), *common)  # .txt: no headings
    assert done.returncode == 0, done.stderr
    out = tmp_path / "model"
    done = crossrank("train", str(out), *common, "--base", tiny_encoder_path)
    assert done.returncode != 0 and "no training examples" in done.stderr
    args = ["--base", tiny_encoder_path, "--no-pseudo", "--qrels", str(beir), "--batch-size", "2"]
    done = crossrank("train", str(out), *common, *args, "--precision", "fp32")
    assert done.returncode == 0, done.stderr
    assert json.loads((out / STATE_FILE).read_text())["data"] == {"qrels pairs": 3}

    evaluate = ["eval", "--dataset", str(beir), "--model", tiny_encoder_path, "--json"]
    rerank = ["--reranker", str(out), "--retrieval", "dense", "--k", "4"]
    done = crossrank(*evaluate, *rerank, "--retrieval-weight", "0.5")
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)["stages"]) == {"dense", "dense+rerank"}
    done = crossrank(*evaluate, *rerank, "--retrieval-weight", "2")
    assert done.returncode == 2 and "--retrieval-weight" in done.stderr


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
