"""Training a reranker for real (a few steps of a tiny model), from Python and the CLI."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from crossrank import Pipeline, Reranker
from crossrank import evaluate as ev
from crossrank.train import CARD_HEADING, STATE_FILE, add_to_card, mine, pseudo_queries, train

pytestmark = pytest.mark.slow


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
    store.index([markdown_corpus], chunk_size=62, chunk_overlap=8)
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
    crossrank, tmp_path: Path, markdown_corpus: Path, tiny_encoder_path: str
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
    crossrank,
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
