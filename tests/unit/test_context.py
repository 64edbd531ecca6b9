"""The context builder: dedupe, merge, expand, budget, order and citations, by hand."""

from __future__ import annotations

import json

import pytest

from crossrank import ContextBuilder, ContextSettings, Hit, Pipeline, Reranker
from crossrank.context import approximate_tokens, token_counter
from crossrank.errors import ModelNotFoundError

# Four sentences of ten words each (with its full stop, 11 approximate tokens each).
DOC = (
    "Alpha cats sleep on warm windows during long summer afternoons. "
    "Bravo ships sail across cold northern seas before winter storms. "
    "Charlie bakes fresh bread every morning for the whole village. "
    "Delta rivers carry rich soil down toward the distant ocean."
)
SENTENCES = [DOC.index(word) for word in ("Alpha", "Bravo", "Charlie", "Delta")] + [len(DOC)]


def chunk(
    start: int,
    end: int,
    *,
    index: int | None = None,
    source: str = "guide.md",
    score: float | None = 0.5,
    doc: str = DOC,
    **metadata: object,
) -> Hit:
    """A hit for ``doc[start:end]``, placed as crossrank's indexer places chunks."""
    meta = {"source": source, "start_char": start, "end_char": end, **metadata}
    if index is not None:
        meta["chunk_index"] = index
    return Hit(f"{source}:{start}", doc[start:end], meta, rerank_score=score)


def sentence(i: int, j: int | None = None) -> tuple[int, int]:
    """Offsets of sentences i..j (inclusive), without the space after the last."""
    j = i if j is None else j
    return SENTENCES[i], SENTENCES[j + 1] - (1 if j + 1 < 4 else 0)


def test_overlapping_chunks_become_one_passage_holding_the_overlap_once():
    first, second = chunk(*sentence(0, 1), index=0), chunk(*sentence(1, 2), index=1)
    context = ContextBuilder(budget=200).build([second, first])
    (passage,) = context.passages
    assert passage.text == DOC[SENTENCES[0] : SENTENCES[3] - 1]  # Alpha..Charlie, Bravo once
    assert passage.ids == (second.id, first.id)  # best hit first
    assert (passage.start_char, passage.end_char) == (0, SENTENCES[3] - 1)
    assert context.text == f"[1] guide.md\n{passage.text}"


def test_a_chunk_inside_the_context_already_is_left_out():
    whole, inside = chunk(*sentence(0, 2)), chunk(*sentence(1))
    context = ContextBuilder(budget=200).build([whole, inside])
    assert [p.ids for p in context.passages] == [(whole.id,)]


def test_next_chunks_of_one_section_merge_across_the_gap_between_them():
    # Chunks cut between sentences leave the space out: neighbours by chunk_index.
    a = chunk(*sentence(0), index=0, section="Guide")
    b = chunk(*sentence(1), index=1, section="Guide")
    c = chunk(*sentence(2), index=2, section="Other")
    context = ContextBuilder(budget=200).build([b, c, a])
    assert [p.text for p in context.passages] == [
        DOC[slice(*sentence(0))] + "\n" + DOC[slice(*sentence(1))],
        DOC[slice(*sentence(2))],
    ]
    assert context.passages[0].citation == "guide.md, Guide"
    assert context.passages[0].spans == (sentence(0), sentence(1))
    assert context.passages[1].citation == "guide.md, Other"  # another section: apart


def test_near_duplicates_from_other_sources_are_left_out():
    text = DOC[slice(*sentence(0, 1))]
    copy = Hit(
        "copy", text.replace("afternoons.", "afternoons!"), {"source": "copy.md"}, rerank_score=0.4
    )
    unrelated = Hit("other", "Echo is quite a different sentence, about something else.", {})
    context = ContextBuilder(budget=200).build([chunk(*sentence(0, 1)), copy, unrelated])
    assert [p.ids for p in context.passages] == [("guide.md:0",), ("other",)]
    assert context.passages[1].citation == "unknown source"


def test_the_budget_skips_what_does_not_fit_and_takes_what_does():
    # "[99] a.md" ([, 99, ], a, ., md) + one sentence = 6 + 11 tokens; two
    # sentences, 6 + 22; a blank line between passages, 1.
    one, two = chunk(*sentence(0), source="a.md"), chunk(*sentence(1, 2), source="b.md")
    three = chunk(*sentence(3), source="c.md")
    context = ContextBuilder(budget=35).build([one, two, three])
    assert [p.ids for p in context.passages] == [(one.id,), (three.id,)]
    assert context.tokens == approximate_tokens(context.text) <= 35
    assert [p.label for p in context.passages] == [1, 2]
    assert ContextBuilder(budget=46).build([one, two, three]).passages[1].ids == (two.id,)


def test_a_hit_too_long_for_the_budget_gives_its_evidence_window():
    long = Hit(
        "long",
        DOC,
        {"source": "guide.md", "start_char": 0, "end_char": len(DOC)},
        rerank_score=0.9,
        evidence=sentence(2),
    )
    context = ContextBuilder(budget=20).build([long])
    (passage,) = context.passages
    assert passage.text == DOC[slice(*sentence(2))]
    assert passage.evidence == (0, len(passage.text))
    assert passage.source_evidence == sentence(2)
    # With room for all of it, the evidence is marked inside the whole text.
    whole = ContextBuilder(budget=100).build([long]).passages[0]
    assert whole.text == DOC and whole.evidence == sentence(2)


def test_merged_passages_keep_the_best_hits_evidence():
    a = chunk(*sentence(0, 1), index=0)
    b = Hit(**{**chunk(*sentence(1, 2), index=1).__dict__, "evidence": (0, 5)})  # "Bravo"
    passage = ContextBuilder(budget=200).build([b, a]).passages[0]
    start, end = passage.evidence  # type: ignore[misc]
    assert passage.text[start:end] == "Bravo"
    assert passage.source_evidence == (SENTENCES[1], SENTENCES[1] + 5)


def test_edges_order_puts_the_best_at_both_ends():
    hits = [chunk(*sentence(i % 4), source=f"s{i}.md", score=1 - i / 10) for i in range(5)]
    relevance = ContextBuilder(budget=500, merge=False).build(hits)
    edges = ContextBuilder(budget=500, merge=False, order="edges").build(hits)
    assert [p.source for p in relevance.passages] == ["s0.md", "s1.md", "s2.md", "s3.md", "s4.md"]
    assert [p.source for p in edges.passages] == ["s0.md", "s2.md", "s4.md", "s3.md", "s1.md"]
    assert [p.label for p in edges.passages] == [1, 2, 3, 4, 5]  # numbered as read


def test_citations_name_source_pages_and_section():
    a = chunk(*sentence(0), index=0, page=2, section="Install > Linux", source="guide.pdf")
    b = chunk(*sentence(1), index=1, page=3, section="Install > Linux", source="guide.pdf")
    context = ContextBuilder(budget=200).build([a, b])
    assert context.passages[0].citation == "guide.pdf, pp. 2-3, Install > Linux"
    assert context.text.startswith("[1] guide.pdf, pp. 2-3, Install > Linux\nAlpha")
    assert context.cited(1) is context.passages[0]
    with pytest.raises(KeyError, match=r"no passage \[2\]"):
        context.cited(2)
    data = json.loads(json.dumps(context.to_dict()))
    assert data["passages"][0]["pages"] == [2, 3] and data["tokens"] == context.tokens


def test_the_relative_cut_drops_hits_far_below_the_best():
    hits = [chunk(*sentence(i), source=f"s{i}.md", score=s) for i, s in enumerate([0.9, 0.5, 0.05])]
    kept = ContextBuilder(budget=500, relative_cut=0.1).build(hits)
    assert [p.source for p in kept.passages] == ["s0.md", "s1.md"]  # 0.05 < 0.1 * 0.9


def test_without_merge_whole_chunks_are_pasted_as_ranked():
    first, second = chunk(*sentence(0, 1), index=0), chunk(*sentence(1, 2), index=1)
    context = ContextBuilder(budget=200, merge=False).build([first, second])
    assert [p.text for p in context.passages] == [first.text, second.text]


def test_langchain_start_index_places_chunks_too():
    a = Hit("a", DOC[slice(*sentence(0, 1))], {"source": "g.md", "start_index": 0})
    b = Hit(
        "b", DOC[sentence(1)[0] : sentence(2)[1]], {"source": "g.md", "start_index": sentence(1)[0]}
    )
    (passage,) = ContextBuilder(budget=200).build([a, b]).passages
    assert passage.text == DOC[: sentence(2)[1]]


def test_empty_hits_give_an_empty_context():
    context = ContextBuilder().build([])
    assert (context.text, context.passages, context.tokens) == ("", (), 0)


def test_expand_brings_the_neighbouring_chunks_of_the_section(memory_store):
    from crossrank.hit import Chunk

    spans = [sentence(i) for i in range(4)]
    sections = ["Guide", "Guide", "Guide", "Other"]
    memory_store.add(
        [
            Chunk(f"c{i}", DOC[a:b], "guide.md", i, a, b, section)
            for i, ((a, b), section) in enumerate(zip(spans, sections, strict=True))
        ]
    )
    hit = chunk(*sentence(1), index=1, section="Guide")
    plain = ContextBuilder(budget=200).build([hit])
    wide = ContextBuilder(budget=200, expand=2, store=memory_store).build([hit])
    (passage,) = wide.passages
    assert passage.ids == (hit.id, "c0", "c2")  # c3 is in another section
    assert passage.text == "\n".join(DOC[a:b] for a, b in spans[:3])
    assert plain.passages[0].text == DOC[slice(*sentence(1))]
    # A budget for two sentences: the nearest neighbour before comes first.
    tight = ContextBuilder(budget=30, expand=1, store=memory_store).build([hit])
    assert tight.passages[0].ids == (hit.id, "c0")
    with pytest.raises(ValueError, match="expand needs the store"):
        ContextBuilder(expand=1)


def test_pipeline_hits_carry_evidence_into_the_context(indexed_store, tiny_reranker_path):
    reranker = Reranker(tiny_reranker_path, device="cpu", precision="fp32")
    hits = Pipeline(indexed_store, reranker, top_n=5).search("how do I leave a loop early?")
    assert all(hit.evidence == (0, len(hit.text)) for hit in hits)  # chunks fit one window
    assert all(
        hit.source_evidence == (hit.metadata["start_char"], hit.metadata["end_char"])
        for hit in hits
    )
    context = ContextBuilder(budget=120).build(hits)
    assert 0 < context.tokens <= 120
    assert {hit_id for p in context.passages for hit_id in p.ids} <= {hit.id for hit in hits}


def test_token_counters(tiny_reranker_path):
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(tiny_reranker_path)
    text = "The break statement leaves the loop."
    assert token_counter(tiny_reranker_path)(text) == len(hf.encode(text, add_special_tokens=False))
    assert token_counter(hf)(text) == len(hf.encode(text, add_special_tokens=False))
    assert token_counter(len)(text) == len(text)
    assert token_counter()(text) == approximate_tokens(text) == 7


def test_a_tiktoken_encoding_counts_tokens():
    tiktoken = pytest.importorskip("tiktoken")
    ranks = {bytes([i]): i for i in range(256)}  # a byte-level encoding, built offline
    encoding = tiktoken.Encoding(
        "bytes", pat_str=r"\S+|\s+", mergeable_ranks=ranks, special_tokens={}
    )
    assert token_counter(encoding)("héllo <|endoftext|>") == len("héllo <|endoftext|>".encode())


def test_bad_context_settings_and_tokenizers_are_refused():
    with pytest.raises(ValueError, match="budget must be at least 16"):
        ContextSettings(budget=4)
    with pytest.raises(ValueError, match="order must be one of relevance, edges"):
        ContextSettings(order="middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"relative_cut must be in \(0, 1\]"):
        ContextSettings(relative_cut=0)
    with pytest.raises(ValueError, match="expand must be >= 0"):
        ContextSettings(expand=-1)
    with pytest.raises(ModelNotFoundError, match="tokenizer"):
        token_counter("./no/such/tokenizer")
    with pytest.raises(TypeError, match="expected a name, a tokenizer or a function"):
        token_counter(42)
