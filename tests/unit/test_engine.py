import random

import numpy as np
import pytest
import torch

import crossrank._models
from crossrank import engine
from crossrank.reranker import LENGTHS, padded_length, token_batches

QUERY = "how do loops stop early"
PASSAGES = [
    "The break statement ends the nearest enclosing loop.",
    "Lambda expressions create anonymous functions, " * 6,
    "continue skips to the next iteration of the loop.",
    "Modules are imported with the import statement, once per process. " * 3,
]

openvino = pytest.importorskip(
    "openvino",
    reason='the openvino engine (a dependency on x86-64): pip install "crossrank[openvino]"',
)


@pytest.fixture(autouse=True)
def _graph_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CROSSRANK_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(engine.ENVIRONMENT, raising=False)


def _cross_encoder(path: str, dtype: torch.dtype = torch.float32):
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(path, device="cpu")
    return model.to(dtype)


def test_openvino_reranker_scores_are_within_1e5_of_torch_fp32(tiny_reranker_path):
    pairs = [(QUERY, text) for text in PASSAGES]
    expected = _cross_encoder(tiny_reranker_path).predict(pairs, batch_size=2)
    model = _cross_encoder(tiny_reranker_path)
    chosen = engine.accelerate(
        model, kind="reranker", precision="fp32", device="cpu", engine="openvino"
    )
    assert chosen == "openvino"
    # Batches of other sizes and lengths than the conversion's example: shapes are dynamic.
    for batch_size in (1, 3, 4):
        found = model.predict(pairs, batch_size=batch_size)
        assert np.abs(found - expected).max() < 1e-5


def test_openvino_encoder_embeddings_are_within_1e5_of_torch_fp32(tiny_encoder_path):
    from sentence_transformers import SentenceTransformer

    expected = SentenceTransformer(tiny_encoder_path, device="cpu").encode(PASSAGES)
    model = SentenceTransformer(tiny_encoder_path, device="cpu")
    engine.accelerate(model, kind="encoder", precision="fp32", device="cpu", engine="openvino")
    found = model.encode(PASSAGES, batch_size=3)
    assert np.abs(found - expected).max() < 1e-5


def test_bf16_keeps_the_score_head_in_fp32(tiny_reranker_path):
    from crossrank.reranker import _score_head_in_fp32

    model = _cross_encoder(tiny_reranker_path, torch.bfloat16)
    _score_head_in_fp32(model)
    engine.accelerate(model, kind="reranker", precision="bf16", device="cpu", engine="openvino")
    features = model[0].tokenizer([QUERY], [PASSAGES[0]], return_tensors="pt")
    logits = model.model(**features).logits
    assert logits.dtype == torch.float32
    exact = _cross_encoder(tiny_reranker_path).predict([(QUERY, t) for t in PASSAGES])
    fast = model.predict([(QUERY, t) for t in PASSAGES])
    assert np.abs(fast - exact).max() < 0.02  # bf16 keeps 8 bits of mantissa


def test_a_second_load_reads_the_cached_graph(tiny_reranker_path, monkeypatch):
    first = _cross_encoder(tiny_reranker_path)
    engine.accelerate(first, kind="reranker", precision="fp32", device="cpu", engine="openvino")

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again instead of reading the cached graph")

    monkeypatch.setattr(engine._OpenVinoGraph, "_convert", staticmethod(no_conversion))
    second = _cross_encoder(tiny_reranker_path)
    engine.accelerate(second, kind="reranker", precision="fp32", device="cpu", engine="openvino")
    pairs = [(QUERY, text) for text in PASSAGES]
    assert np.abs(first.predict(pairs) - second.predict(pairs)).max() < 1e-6


def test_torch_engine_leaves_the_model_alone(tiny_reranker_path):
    model = _cross_encoder(tiny_reranker_path)
    assert engine.accelerate(model, kind="reranker", precision="fp32", device="cpu", engine="torch")
    assert "forward" not in vars(model.model)


def test_auto_picks_openvino_only_where_it_won(monkeypatch):
    monkeypatch.setattr(engine, "cpu_kind", lambda: "avx512_bf16")
    monkeypatch.setattr(engine, "WINS", frozenset({("avx512_bf16", "reranker", "bf16")}))
    assert engine.choose("auto", kind="reranker", precision="bf16", device="cpu") == "openvino"
    assert engine.choose("auto", kind="reranker", precision="fp32", device="cpu") == "torch"
    assert engine.choose("auto", kind="encoder", precision="bf16", device="cpu") == "torch"
    monkeypatch.setattr(engine, "cpu_kind", lambda: "amx")
    assert engine.choose("auto", kind="reranker", precision="bf16", device="cpu") == "torch"


@pytest.mark.parametrize("kind_of_cpu", ["amx", "avx512_bf16", "avx512", "avx2", "other"])
def test_auto_picks_openvino_on_the_cpu_kind_where_it_won_through_crossrank(
    monkeypatch, kind_of_cpu
):
    # docs/explanation/hardware.md: on AVX-512 BF16 without AMX OpenVINO won reranking in
    # both precisions and fp32 indexing; AMX's bf16 tied; the others were not measured.
    won = {("reranker", "fp32"), ("reranker", "bf16"), ("encoder", "fp32")}
    monkeypatch.setattr(engine, "cpu_kind", lambda: kind_of_cpu)
    for kind in ("reranker", "encoder"):
        for precision in ("fp32", "bf16"):
            found = engine.choose("auto", kind=kind, precision=precision, device="cpu")
            wins = kind_of_cpu == "avx512_bf16" and (kind, precision) in won
            assert found == ("openvino" if wins else "torch"), (kind, precision)


def test_auto_leaves_untested_model_families_on_torch(monkeypatch, family_models):
    from sentence_transformers import CrossEncoder

    monkeypatch.setattr(engine, "cpu_kind", lambda: "avx512_bf16")
    arguments = {"kind": "reranker", "precision": "fp32", "device": "cpu"}
    assert engine.choose("auto", family="bert", **arguments) == "openvino"
    assert engine.choose("auto", family="qwen3", **arguments) == "torch"
    causal = CrossEncoder(family_models["qwen3"], device="cpu")
    assert engine.accelerate(causal, **arguments) == "torch"
    assert "forward" not in vars(causal.model)


@pytest.mark.parametrize("family", ["bert", "bert2", "xlmr", "modernbert"])
def test_auto_reranker_on_openvino_scores_within_1e5_of_torch(monkeypatch, family_models, family):
    from crossrank import Reranker

    monkeypatch.setattr(engine, "cpu_kind", lambda: "avx512_bf16")
    long = "Windows of a long passage are scored apart and the best one counts. " * 40
    texts = [*PASSAGES, long]
    scores = {}
    for name in ("torch", "auto"):
        monkeypatch.setenv(engine.ENVIRONMENT, name)
        reranker = Reranker(family_models[family], device="cpu", precision="fp32").load()
        assert ("forward" in vars(reranker.model.model)) == (name == "auto")
        scores[name] = np.array(reranker.score(QUERY, texts))
        crossrank._models._cache.clear()
    assert np.abs(scores["auto"] - scores["torch"]).max() < 1e-5


def test_auto_is_torch_off_the_cpu_and_without_openvino(monkeypatch):
    monkeypatch.setattr(engine, "cpu_kind", lambda: "avx512_bf16")
    monkeypatch.setattr(engine, "WINS", frozenset({("avx512_bf16", "reranker", "fp32")}))
    assert engine.choose("auto", kind="reranker", precision="bf16", device="cuda") == "torch"
    assert engine.choose("auto", kind="reranker", precision="fp32", device="cuda") == "torch"
    assert engine.choose("auto", kind="reranker", precision="fp32", device="cpu") == "openvino"
    monkeypatch.setattr(engine, "_openvino_installed", lambda: False)
    assert engine.choose("auto", kind="reranker", precision="fp32", device="cpu") == "torch"


def test_the_environment_sets_the_engine_and_is_checked(monkeypatch):
    monkeypatch.setattr(engine, "cpu_kind", lambda: "avx512_bf16")
    monkeypatch.setenv(engine.ENVIRONMENT, "openvino")
    assert engine.choose(None, kind="reranker", precision="fp32", device="cpu") == "openvino"
    monkeypatch.setenv(engine.ENVIRONMENT, "onnx")
    with pytest.raises(ValueError, match="unknown engine 'onnx'"):
        engine.choose(None, kind="reranker", precision="fp32", device="cpu")


def test_openvino_refuses_other_devices_and_fp16(tiny_reranker_path):
    model = _cross_encoder(tiny_reranker_path)
    with pytest.raises(ValueError, match="CPU only"):
        engine.accelerate(
            model, kind="reranker", precision="fp32", device="cuda", engine="openvino"
        )
    with pytest.raises(ValueError, match="fp16"):
        engine.accelerate(model, kind="reranker", precision="fp16", device="cpu", engine="openvino")


def _possible_shapes(max_tokens: int = 4096, max_size: int = 32) -> set[tuple[int, int]]:
    shapes = set()
    for length in LENGTHS:
        room = max(1, min(max_size, max_tokens // length))
        size = 1
        while size <= room:
            shapes.add((size, length))
            size *= 2
    return shapes


def test_the_shapes_the_engine_sees_are_bounded():
    # Every engine keeps something per input shape (oneDNN kernels, OpenVINO's shape
    # cache): crossrank's batching must give it a bounded set, whatever the requests.
    allowed = _possible_shapes()
    assert len(allowed) <= 160
    rng = random.Random(0)
    seen = set()
    for _ in range(300):
        lengths = [rng.randint(3, 512) for _ in range(rng.randint(1, 60))]
        padded = [padded_length(n, 512) for n in lengths]
        for batch in token_batches(padded, 4096, 32):
            seen.add((len(batch), padded[batch[0]]))
    assert seen <= allowed
    assert len(seen) > len(LENGTHS)  # the random requests did reach many shapes


def test_a_missing_openvino_says_what_to_install(tiny_reranker_path):
    from unittest import mock

    model = _cross_encoder(tiny_reranker_path)
    with mock.patch.dict("sys.modules", {"openvino": None}):
        with pytest.raises(ImportError, match=r"crossrank\[openvino\]"):
            engine.accelerate(
                model, kind="reranker", precision="fp32", device="cpu", engine="openvino"
            )
