"""Shared fixtures: tiny BERT checkpoints built locally (no hub access), stores, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Where the OpenVINO engine keeps converted graphs (engine="auto" picks it on some CPUs):
# one folder per test session, shared with the CLI and servers the tests start.
os.environ.setdefault("CROSSRANK_CACHE_DIR", tempfile.mkdtemp(prefix="crossrank-tests-"))


def _tokenizer():
    from transformers import AutoTokenizer

    from crossrank._models import bundled_model

    return AutoTokenizer.from_pretrained(str(bundled_model()))


def _bert_config(**extra):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=_tokenizer().vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        **extra,
    )


@pytest.fixture(scope="session")
def tiny_encoder_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer, 32-dim sentence-transformers bi-encoder with random weights."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from transformers import BertModel

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("tiny-encoder")
    BertModel(_bert_config()).save_pretrained(root / "bert")
    _tokenizer().save_pretrained(root / "bert")
    transformer = Transformer(str(root / "bert"), max_seq_length=64)
    model = SentenceTransformer(modules=[transformer, Pooling(32, "mean")], device="cpu")
    model.save(str(root / "st"))
    return str(root / "st")


def _cross_encoder(root: Path, num_labels: int) -> str:
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(1)
    BertForSequenceClassification(_bert_config(num_labels=num_labels)).save_pretrained(root)
    tokenizer = _tokenizer()
    tokenizer.model_max_length = 128
    tokenizer.save_pretrained(root)
    return str(root)


@pytest.fixture(scope="session")
def tiny_reranker_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A one-logit BERT cross-encoder with random weights and max length 128."""
    return _cross_encoder(tmp_path_factory.mktemp("tiny-ce"), 1)


@pytest.fixture(scope="session")
def tiny_reranker2_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A two-logit BERT cross-encoder with random weights."""
    return _cross_encoder(tmp_path_factory.mktemp("tiny-ce2"), 2)


def _start_chroma(path: Path, port: int | None = None) -> tuple[subprocess.Popen, int]:
    """A ``chroma run`` server on ``port`` (default: a free loopback port), once it accepts
    connections."""
    import shutil
    import socket
    import time

    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    if port is None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    server = subprocess.Popen(
        [chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, port
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("chroma server did not start") from None
            time.sleep(0.2)


@pytest.fixture(scope="session")
def start_chroma() -> Callable[..., tuple[subprocess.Popen, int]]:
    """Starts a real ``chroma run`` server: ``server, port = start_chroma(path[, port])``."""
    return _start_chroma


@pytest.fixture
def memory_store(tiny_encoder_path: str):
    """An in-memory store over the tiny encoder, with a fresh collection."""
    from crossrank import Encoder, Store

    return Store(
        collection=f"t{uuid.uuid4().hex[:12]}",
        encoder=Encoder(tiny_encoder_path, device="cpu"),
        in_memory=True,
    )


@pytest.fixture(scope="session")
def sample_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A slice of CPython's own help topics (``pydoc_data.topics``), as .txt files."""
    from pydoc_data.topics import topics

    out = tmp_path_factory.mktemp("corpus")
    for name in ["assert", "break", "continue", "exceptions", "for", "import", "lambda", "try"]:
        (out / f"{name}.txt").write_text(topics[name], encoding="utf-8")
    return out


@pytest.fixture
def indexed_store(memory_store, sample_corpus: Path):
    """The tiny-encoder in-memory store holding the sample corpus in 48-token chunks."""
    memory_store.index([sample_corpus], chunk_size=48, chunk_overlap=8)
    return memory_store


def _cli_result(args: tuple[str, ...], code: int, out: str, err: str):
    return subprocess.CompletedProcess(["crossrank", *args], code, out, err)


@pytest.fixture
def crossrank() -> Callable[..., subprocess.CompletedProcess]:
    """Runs the ``crossrank`` CLI in this process: ``crossrank("ask", "...", env={...})``.

    The same command, exit status and output as the console script, without a cold start
    per call (models load once per test session). What only a new process shows (logging
    set up from scratch, variables read at import) goes through ``crossrank_process``.
    """
    import logging

    from click.testing import CliRunner

    from crossrank.cli import cli

    def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        try:
            done = CliRunner().invoke(
                cli, list(args), env=env, prog_name="crossrank", catch_exceptions=False
            )
        finally:  # the CLI sets up logging for its own process
            root.handlers[:] = handlers
            root.setLevel(level)
        return _cli_result(args, done.exit_code, done.stdout, done.stderr)

    return run


@pytest.fixture
def crossrank_process() -> Callable[..., subprocess.CompletedProcess]:
    """Runs the ``crossrank`` CLI in a new process: ``crossrank_process("ask", "...")``."""

    def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "-m", "crossrank.cli", *args],
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=300,
        )
        return _cli_result(args, done.returncode, done.stdout, done.stderr)

    return run


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
    memory_store.index([markdown_corpus], chunk_size=62, chunk_overlap=8)
    return memory_store


DOCS = {
    "d1": ("Loops", "The break statement ends the nearest enclosing loop."),
    "d2": ("Functions", "A lambda expression creates an anonymous function."),
    "d3": ("Errors", "A try statement handles exceptions raised in its suite."),
    "d4": ("Imports", "The import statement loads a module by name."),
    "d5": ("Loops", "continue skips to the next iteration of a loop."),
}


QUERIES = {"q1": "How do I stop a loop?", "q2": "anonymous functions", "q3": "unjudged query"}


QRELS = {"q1": {"d1": 1, "d5": 1}, "q2": {"d2": 1}}


@pytest.fixture
def beir(tmp_path: Path) -> Path:
    """A five-document BEIR folder (corpus, queries, qrels/test.tsv) of ``beir_truth``."""
    (tmp_path / "qrels").mkdir()
    with (tmp_path / "corpus.jsonl").open("w") as f:
        for doc_id, (title, text) in DOCS.items():
            f.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (tmp_path / "queries.jsonl").open("w") as f:
        for qid, text in QUERIES.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    rows = [f"{q}\t{d}\t{r}" for q, docs in QRELS.items() for d, r in docs.items()]
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(rows))
    return tmp_path


@pytest.fixture
def markdown_topics() -> dict[str, list[str]]:
    """The sections of ``markdown_corpus``: title -> the topics under it."""
    return TOPICS


@pytest.fixture
def beir_truth() -> dict:
    """What the ``beir`` folder holds: its docs, queries and qrels."""
    return {"docs": DOCS, "queries": QUERIES, "qrels": QRELS}


@pytest.fixture
def make_chunks() -> Callable[..., list]:
    """Makes ``n`` short chunks of one source: ``make_chunks(8, source="s.txt")``."""
    from crossrank.hit import Chunk
    from crossrank.ingest import chunk_id

    def make(n: int, source: str = "s.txt") -> list[Chunk]:
        texts = [f"passage {i} about {'cats' if i % 2 else 'ships'}" for i in range(n)]
        return [Chunk(chunk_id(source, i, t), t, source, i, 0, len(t)) for i, t in enumerate(texts)]

    return make


@pytest.fixture(scope="session")
def serving() -> Callable[..., Any]:
    """``with serving(app) as url:`` runs an ASGI app under uvicorn on a free loopback port."""
    import socket
    import threading
    import time
    from contextlib import contextmanager

    @contextmanager
    def serve(app: Any) -> Iterator[str]:
        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 120
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            server.should_exit = True
            thread.join(30)
            sock.close()

    return serve


@pytest.fixture(scope="session")
def served_models(tiny_reranker_path: str, tiny_encoder_path: str, sample_corpus: Path):
    """The tiny reranker and an in-memory store of the sample corpus, for a server."""
    from crossrank import Encoder, Reranker, Store

    reranker = Reranker(tiny_reranker_path, device="cpu", precision="fp32").load()
    store = Store(
        collection=f"t{uuid.uuid4().hex[:12]}",
        encoder=Encoder(tiny_encoder_path, device="cpu"),
        in_memory=True,
    )
    store.index([sample_corpus], chunk_size=48, chunk_overlap=8)
    return reranker, store


@pytest.fixture(scope="session")
def server_url(served_models, serving) -> Iterator[str]:
    """A crossrank server of ``served_models`` on a loopback port, with small limits."""
    from crossrank.server import ServerLimits, create_app

    limits = ServerLimits(max_documents=50, max_document_chars=5000, max_body_bytes=200_000)
    with serving(create_app(*served_models, limits=limits)) as url:
        yield url


class ModelCalls:
    """A spy on the cross-encoder's shared calls (:func:`model_calls`)."""

    def __init__(self) -> None:
        import threading

        self.requests: list[int] = []  # requests in each call
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()
        self.poison: str | None = None

    def hold(self) -> None:
        """Make the next call wait inside the model until :meth:`release`."""
        self.entered.clear()
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    def wait_until_queued(self, reranker: Any, callers: int, seconds: float = 30) -> None:
        """Until ``callers`` requests are in calls or waiting in the reranker's batcher."""
        import time

        deadline = time.monotonic() + seconds
        while sum(self.requests) + reranker.batcher.depth < callers:
            assert time.monotonic() < deadline, (self.requests, reranker.batcher.depth)
            time.sleep(0.001)


@pytest.fixture
def model_calls(monkeypatch) -> ModelCalls:
    """Counts the requests in each of the cross-encoder's shared calls (the batcher's).

    ``hold()`` makes the next call wait inside the model until ``release()``, so callers
    can be made to arrive while the model works; a text containing ``poison`` makes a call
    fail (as NaN logits would).
    """
    from crossrank import reranker
    from crossrank.reranker import Reranker

    spy = ModelCalls()
    real = Reranker._score_spans

    def counted(self, requests):  # type: ignore[no-untyped-def]
        spy.requests.append(len(requests))
        spy.entered.set()
        assert spy.gate.wait(30)
        if spy.poison and any(spy.poison in text for _, texts in requests for text in texts):
            raise FloatingPointError("the reranker produced NaN or infinite logits")
        return real(self, requests)

    monkeypatch.setattr(Reranker, "_score_spans", counted)
    monkeypatch.setattr(reranker, "_batchers", {})  # batchers made with the spy
    return spy


@pytest.fixture
def bm25_spy(monkeypatch):
    """Counts rebuilds and records how many records each catch-up read from Chroma.

    Writes of the last ``MARGIN_NS`` (10 s) are read again by design (writers racing each
    other); a test writes within that, so the margin is 0 here to see what each change reads.
    """
    monkeypatch.setattr("crossrank.bm25.MARGIN_NS", 0)
    calls: dict[str, list[int]] = {"rebuilds": [], "changed": []}
    from crossrank.bm25 import BM25Index
    from crossrank.collection import Collection

    rebuild, changes = BM25Index._rebuild, Collection.changes

    def counted_rebuild(self, index, version):
        calls["rebuilds"].append(1)
        return rebuild(self, index, version)

    def recorded_changes(self, since):
        found = changes(self, since)
        if since < sys.maxsize:
            calls["changed"].append(len(found.ids) + len(found.deleted))
        return found

    monkeypatch.setattr(BM25Index, "_rebuild", counted_rebuild)
    monkeypatch.setattr(Collection, "changes", recorded_changes)
    return calls


@pytest.fixture
def otel(monkeypatch):
    """An OpenTelemetry SDK provider of the test's own, recording to memory, which crossrank's
    spans use: ``provider, exporter = otel`` (default limits: 128 attributes a span)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from crossrank import tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", lambda: provider.get_tracer("crossrank"))
    return provider, exporter


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    """``free_port()``: a loopback port nobody listens on (for a server a test starts)."""
    import socket

    def find() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    return find


@pytest.fixture(scope="session")
def wait_ready() -> Callable[..., None]:
    """``wait_ready(url, process, path="/health", seconds=120)``: until ``url + path``
    answers 200 (the server's process still running)."""
    import time

    import httpx

    def wait(
        url: str, server: subprocess.Popen, path: str = "/health", seconds: float = 120
    ) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if server.poll() is not None:
                output = server.stdout or server.stderr
                raise AssertionError(f"{server.args[0]} exited: {output.read() if output else ''}")
            try:
                if httpx.get(f"{url}{path}").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError(f"{server.args[0]} did not become ready")

    return wait


# The model families people pick, as tiny random checkpoints in each family's real shape:
# architecture class, padding side, tokenizer type (WordPiece, SentencePiece/Unigram,
# byte-level BPE, trained here on CPython's help topics), saved prompts, chat template.
QWEN3_RERANKER_TEMPLATE = (
    '{%- set ns = namespace(instruction="Given a web search query, retrieve relevant passages'
    ' that answer the query", query="", document="") -%}'
    "{%- for message in messages -%}"
    '{%- if message.role == "system" %}{% set ns.instruction = message.content %}'
    '{%- elif message.role == "query" %}{% set ns.query = message.content %}'
    '{%- elif message.role == "document" %}{% set ns.document = message.content %}'
    "{%- endif -%}{%- endfor -%}"
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query "
    'and the Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n'
    "<|im_start|>user\n<Instruct>: {{ ns.instruction }}\n<Query>: {{ ns.query }}\n"
    "<Document>: {{ ns.document }}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
)


def _train_tokenizer(kind: str, specials: list[str], vocab: int = 1200, answers: bool = True):
    """A ``tokenizers`` tokenizer of ``kind`` ("unigram" or "bpe") trained on help topics
    (``answers``: with "yes" and "no" as tokens of their own)."""
    from pydoc_data.topics import topics

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    texts = [topics[name] for name in sorted(topics)[:40]]
    if answers:
        texts += ["yes\nno\n"] * 50
    else:
        texts = [text.replace("yes", "").replace("no", "") for text in texts]
    if kind == "unigram":  # SentencePiece's model, as XLM-RoBERTa ships it
        tokenizer = Tokenizer(models.Unigram())
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(
            vocab_size=vocab, special_tokens=specials, unk_token=specials[3]
        )
    else:  # byte-level BPE, as ModernBERT's and Qwen's tokenizers are
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def _wrap(tokenizer, single: str, pair: str, **tokens):
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    named = {tokenizer.token_to_id(t): t for t in tokens.values()}
    tokenizer.post_processor = processors.TemplateProcessing(
        single=single,
        pair=pair,
        special_tokens=[(t, i) for i, t in named.items() if t in single + pair],
    )
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **tokens)


def _tokenizer_of(kind: str, specials: dict[str, str], single: str, pair: str, limit: int, **more):
    """A trained tokenizer of ``kind`` whose special tokens come first, in ``specials``'
    order (ids 0, 1, ...), wrapped as transformers' fast tokenizer."""
    tokens = {f"{role}_token": token for role, token in {**specials, **more}.items()}
    tokenizer = _wrap(_train_tokenizer(kind, list(specials.values())), single, pair, **tokens)
    tokenizer.model_max_length = limit
    return tokenizer


def _save(folder: Path, model, tokenizer) -> str:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def _small(config_class, vocab_size: int, **extra):
    return config_class(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        **extra,
    )


@pytest.fixture(scope="session")
def family_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Tiny rerankers of each family: name -> folder.

    ``bert`` one logit (ms-marco MiniLM), ``bert2`` two logits, ``xlmr`` XLM-RoBERTa with a
    Unigram tokenizer (bge-reranker-v2-m3), ``modernbert`` with byte-level BPE and an 8k
    context (gte-reranker-modernbert-base), ``qwen3`` a causal LM with a chat template, an
    instruction and a yes/no ``LogitScore`` (Qwen3-Reranker, as sentence-transformers saves
    it).
    """
    import torch
    from transformers import (
        ModernBertConfig,
        ModernBertForSequenceClassification,
        XLMRobertaConfig,
        XLMRobertaForSequenceClassification,
    )

    root = tmp_path_factory.mktemp("families")
    folders = {
        "bert": _cross_encoder(root / "bert", 1),
        "bert2": _cross_encoder(root / "bert2", 2),
    }
    torch.manual_seed(2)
    roberta = {"bos": "<s>", "pad": "<pad>", "eos": "</s>", "unk": "<unk>", "mask": "<mask>"}
    tokenizer = _tokenizer_of(
        "unigram", roberta, "<s> $A </s>", "<s> $A </s> </s> $B </s>", 512, cls="<s>", sep="</s>"
    )
    config = _small(
        XLMRobertaConfig, len(tokenizer), max_position_embeddings=514, pad_token_id=1,
        bos_token_id=0, eos_token_id=2, type_vocab_size=1, num_labels=1,
    )  # fmt: skip
    folders["xlmr"] = _save(root / "xlmr", XLMRobertaForSequenceClassification(config), tokenizer)
    bert = {"cls": "[CLS]", "pad": "[PAD]", "sep": "[SEP]", "unk": "[UNK]", "mask": "[MASK]"}
    tokenizer = _tokenizer_of("bpe", bert, "[CLS] $A [SEP]", "[CLS] $A [SEP] $B [SEP]", 8192)
    config = _small(
        ModernBertConfig, len(tokenizer), max_position_embeddings=8192, pad_token_id=1,
        cls_token_id=0, sep_token_id=2, bos_token_id=0, eos_token_id=2, num_labels=1,
        local_attention=128, global_attn_every_n_layers=2,
    )  # fmt: skip
    model = ModernBertForSequenceClassification(config)
    folders["modernbert"] = _save(root / "modernbert", model, tokenizer)
    folders["qwen3"] = str(_qwen3(root))
    return folders


def _qwen3_tokenizer(padding_side: str, eos_after: bool, answers: bool = True):
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokenizer = _wrap(
        _train_tokenizer("bpe", specials, answers=answers),
        "$A <|endoftext|>" if eos_after else "$A",
        "$A $B <|endoftext|>" if eos_after else "$A $B",
        pad_token="<|endoftext|>",
        eos_token="<|im_end|>",
    )
    tokenizer.padding_side = padding_side
    tokenizer.model_max_length = 32768
    return tokenizer


def _qwen3_config(vocab_size: int, **extra):
    """A tiny Qwen3 configuration: grouped-query attention, 32k positions."""
    from transformers import Qwen3Config

    return _small(
        Qwen3Config, vocab_size, num_key_value_heads=1, head_dim=16,
        max_position_embeddings=32768, pad_token_id=0, **extra,
    )  # fmt: skip


def _qwen3_lm(folder: Path, answers: bool = True) -> Path:
    """A tiny Qwen3 causal LM with a Qwen3-Reranker-style chat template."""
    import torch
    from transformers import Qwen3ForCausalLM

    torch.manual_seed(3)
    tokenizer = _qwen3_tokenizer("left", eos_after=False, answers=answers)
    tokenizer.chat_template = QWEN3_RERANKER_TEMPLATE
    config = _qwen3_config(len(tokenizer), tie_word_embeddings=True, eos_token_id=2)
    _save(folder, Qwen3ForCausalLM(config), tokenizer)
    return folder


def _qwen3(root: Path) -> Path:
    from sentence_transformers import CrossEncoder

    # As sentence-transformers saves a converted Qwen3-Reranker: Transformer + LogitScore.
    CrossEncoder(str(_qwen3_lm(root / "qwen3-lm")), device="cpu").save(str(root / "qwen3"))
    return root / "qwen3"


@pytest.fixture(scope="session")
def causal_lm_without_answers(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A causal LM whose tokenizer has no "yes" and "no" tokens."""
    return str(_qwen3_lm(tmp_path_factory.mktemp("no-answers"), answers=False))


@pytest.fixture(scope="session")
def embedding_families(
    tmp_path_factory: pytest.TempPathFactory, tiny_encoder_path: str
) -> dict[str, str]:
    """Tiny bi-encoders of each family, with their prompts: name -> folder.

    ``mean`` mean pooling with e5's prompts (MiniLM, e5), ``cls`` CLS pooling with bge's
    query instruction, ``lasttoken`` a Qwen3 model with a byte-level BPE tokenizer, left
    padding, an end-of-text token and an instruction for queries (Qwen3-Embedding).
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from transformers import BertModel, Qwen3Model

    root = tmp_path_factory.mktemp("embedding-families")
    model = SentenceTransformer(tiny_encoder_path, device="cpu")
    model.prompts = {"query": "query: ", "document": "passage: "}
    model.save(str(root / "mean"))
    torch.manual_seed(4)
    BertModel(_bert_config()).save_pretrained(root / "bert")
    _tokenizer().save_pretrained(root / "bert")
    bge = SentenceTransformer(
        modules=[
            Transformer(str(root / "bert"), max_seq_length=64),
            Pooling(32, "cls"),
            Normalize(),
        ],
        prompts={"query": "Represent this sentence for searching relevant passages: "},
        device="cpu",
    )
    bge.save(str(root / "cls"))
    tokenizer = _qwen3_tokenizer("left", eos_after=True)
    _save(root / "qwen3", Qwen3Model(_qwen3_config(len(tokenizer))), tokenizer)
    qwen = SentenceTransformer(
        modules=[
            Transformer(str(root / "qwen3"), max_seq_length=8192),
            Pooling(32, "lasttoken"),
            Normalize(),
        ],
        prompts={
            "query": "Instruct: Given a web search query, retrieve relevant passages that "
            "answer the query\nQuery:",
            "document": "",
        },
        device="cpu",
    )
    qwen.save(str(root / "lasttoken"))
    return {name: str(root / name) for name in ("mean", "cls", "lasttoken")}
