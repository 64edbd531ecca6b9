"""What reaches the LLM: recall of the relevant text, and duplicate text, per token budget.

For each dev-set question, the default retrieval (hybrid) finds 50 candidates; optionally a
reranker trained by `crossrank train` reorders them, fused with the retrieval order (weighted
RRF, ``--retrieval-weight``). Each way of making a context then fills budgets of 256, 512
and 1,024 tokens (crossrank's approximate count, citation lines included):

- ``top-n concat``: whole chunks in rank order while they fit (what frameworks paste);
- ``merge``: the context builder (overlaps dropped, near-duplicates left out, neighbours
  merged);
- ``merge+expand N``: the same, each hit widened with up to N neighbouring chunks a side;
- ``merge+cut R``: the same, leaving out hits scoring below R x the best score.

The dev set's passages are consecutive pieces of documentation pages (``faq/design#21.3``
is page faq/design, section 21, passage 3), each chunked again when indexed. Here each page
is one document, as ``crossrank index`` would store it: the hits are placed in their page
(``source`` the page, character offsets and ``chunk_index`` in page order, the section
kept), so that chunks of one passage overlap, passages of one section follow each other,
and ``expand`` reads the next chunk of the page. Nothing is re-embedded: retrieval and
scores are those of the indexed dev set.

Reported per budget: recall (the share of the relevant passages' tokens inside the
context, averaged over questions), complete (the share of questions whose relevant text is
all inside), duplicate (the share of context tokens repeating text already there) and the
tokens used. The questions are split in two halves (alternating, by id): settings are
chosen on the "tune" half, and reported on the "report" half.

The dev set's chunks rarely overlap (most passages are one chunk), so ``--files DIR`` also
measures duplicate text where overlaps are common: the same questions over a folder indexed
by crossrank's own indexer (256-token chunks sharing 32 tokens), for which there are no
relevance judgements (no recall).

Usage (after `make dataset`; the trained model from `make train-eval`):
    python context.py --dataset .cache/python-docs --db .cache/python-docs-db
    python context.py ... --reranker .cache/trained/labelled-84 --held-out
    python context.py ... --files .cache/help-topics
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from crossrank import ContextBuilder, Hit, Pipeline, Reranker, Store
from crossrank import evaluate as ev
from crossrank.context import Context, approximate_tokens, token_counter
from crossrank.readers import read_text

from common import CACHE  # noqa: F401 - sets the offline environment

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
BUDGETS = (256, 512, 1024)
HELD_OUT = ("faq/programming", "faq/extending", "faq/windows")  # as train_reranker.py
_TOKENS = re.compile(r"\w+|[^\w\s]")

Maker = Callable[[list[Hit], int], Context]


def top_n_concat(hits: list[Hit], budget: int) -> Context:
    """The first n whole chunks, for the largest n that fits: today's framework context."""
    paste = ContextBuilder(budget=budget, merge=False)
    best = paste.build([])
    for n in range(1, len(hits) + 1):
        context = paste.build(hits[:n])
        if len(context.passages) < n:
            break
        best = context
    return best


class Pages:
    """The dev set as pages: its chunks placed in page order (see the module's docstring)."""

    def __init__(self, store: Store, corpus: Mapping[str, tuple[str, str]]) -> None:
        found = store.collection.get()
        chunks = sorted(
            zip(found["ids"], found["documents"], found["metadatas"], strict=True),
            key=lambda row: (_order(row[2]["source"]), row[2]["chunk_index"]),
        )
        self.texts: dict[str, str] = {}  # page -> its text
        self.at: dict[str, tuple[str, int, int]] = {}  # passage -> (page, start, end)
        for doc in sorted(corpus, key=_order):
            page, text = doc.split("#")[0], f"{corpus[doc][0]}\n{corpus[doc][1]}".strip()
            before = self.texts.get(page)
            offset = 0 if before is None else len(before) + 1
            self.texts[page] = text if before is None else f"{before}\n{text}"
            self.at[doc] = (page, offset, offset + len(text))
        self.chunks: dict[str, Hit] = {}
        self.by_index: dict[tuple[str, int], Hit] = {}
        counts: dict[str, int] = {}
        for chunk_id, text, meta in chunks:
            page, offset, _ = self.at[meta["source"]]
            index = counts[page] = counts.get(page, -1) + 1
            placed = {
                **meta,
                "source": page,
                "start_char": offset + meta["start_char"],
                "end_char": offset + meta["end_char"],
                "chunk_index": index,
            }
            self.chunks[chunk_id] = self.by_index[(page, index)] = Hit(chunk_id, text, placed)
        self.collection = self  # ContextBuilder's expand reads store.collection.get

    def place(self, hit: Hit) -> Hit:
        return replace(hit, metadata=self.chunks[hit.id].metadata)

    def get(self, where: Mapping[str, Any]) -> dict[str, list[Any]]:
        (source,), (index,) = (part.values() for part in where["$and"])
        hits = [self.by_index[(source, i)] for i in index["$in"] if (source, i) in self.by_index]
        return {
            "ids": [hit.id for hit in hits],
            "documents": [hit.text for hit in hits],
            "metadatas": [hit.metadata for hit in hits],
        }


def _order(doc: str) -> tuple[str, int, int]:
    page, _, number = doc.partition("#")
    section, _, passage = number.partition(".")
    return page, int(section or 0), int(passage or 0)


def makers(store: Any) -> dict[str, Maker]:
    def builder(**options: object) -> Maker:
        return lambda hits, budget: ContextBuilder(budget=budget, store=store, **options).build(
            hits
        )

    return {
        "top-n concat": top_n_concat,
        "merge": builder(),
        "merge+expand 1": builder(expand=1),
        "merge+expand 2": builder(expand=2),
        "merge+cut 0.25": builder(relative_cut=0.25),
        "merge+cut 0.5": builder(relative_cut=0.5),
    }


@cache
def token_starts(text: str) -> list[int]:
    return [match.start() for match in _TOKENS.finditer(text)]


def measure(
    context: Context, relevant: Sequence[tuple[str, int, int]], documents: dict[str, str]
) -> tuple[float, bool, int, int]:
    """(recall, complete, duplicate tokens, passage tokens) of one context.

    ``relevant`` holds ``(source, start, end)`` of each relevant passage.
    """
    covered: dict[str, list[tuple[int, int]]] = {}
    duplicate = total = 0
    for passage in context.passages:
        source = passage.source or ""
        starts = token_starts(documents.get(source, ""))
        for start, end in passage.spans:
            seen = covered.setdefault(source, [])
            inside = [s for s in starts if start <= s < end]
            total += len(inside)
            duplicate += sum(any(a <= s < b for a, b in seen) for s in inside)
            seen.append((start, end))
    wanted = found = 0
    for source, first, last in relevant:
        starts = [s for s in token_starts(documents[source]) if first <= s < last]
        wanted += len(starts)
        found += sum(any(a <= s < b for a, b in covered.get(source, [])) for s in starts)
    return found / max(wanted, 1), found == wanted, duplicate, total


def duplicates_in_files(folder: str, questions: list[str]) -> None:
    """Duplicate share and tokens used over a folder that crossrank's indexer chunked."""
    from sample_corpus import write_corpus

    if not any(Path(folder).iterdir() if Path(folder).is_dir() else []):
        write_corpus(Path(folder))  # CPython's help topics
    store = Store(CACHE / "context-files-db")
    report = store.index([folder])
    pipeline = Pipeline(store)
    candidates = [pipeline.retrieve(question, 50) for question in questions]
    print(f"{report.files} files, {store.count()} chunks; {len(questions)} questions\n")
    print("| context | budget | duplicate | passages | tokens used |")
    print("|---|---|---|---|---|")
    texts: dict[str, str] = {}
    for name, make in list(makers(store).items())[:2]:
        for budget in BUDGETS:
            rows = []
            for hits in candidates:
                context = make(hits, budget)
                for hit in hits:
                    source = hit.metadata["source"]
                    if source not in texts:
                        texts[source] = read_text(Path(source))
                _, _, duplicate, total = measure(context, [], texts)
                rows.append((duplicate, total, len(context.passages), context.tokens))
            duplicate = sum(r[0] for r in rows) / max(sum(r[1] for r in rows), 1)
            passages = statistics.mean(r[2] for r in rows)
            used = statistics.mean(r[3] for r in rows)
            print(f"| {name} | {budget} | {duplicate:.3f} | {passages:.1f} | {used:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--reranker", default=None, help="a cross-encoder folder")
    parser.add_argument("--retrieval-weight", type=float, default=0.5)
    parser.add_argument("--k", type=int, default=50, help="candidates retrieved")
    parser.add_argument(
        "--held-out", action="store_true", help="only the held-out FAQ files' questions"
    )
    parser.add_argument("--files", default=None, help="also: duplicates over this folder")
    args = parser.parse_args()
    data = ev.load_beir(args.dataset)
    if args.files:
        return duplicates_in_files(args.files, [data.queries[q] for q in sorted(data.qrels)])
    store = Store(args.db)
    if store.count() == 0:
        ev.index_corpus(store, data, progress=True)
    sample = [f"{title}\n{text}" for title, text in list(data.corpus.values())[::10]]
    wordpiece = token_counter(store.encoder.model.tokenizer)
    ratio = sum(map(approximate_tokens, sample)) / sum(map(wordpiece, sample))
    print(
        f"approximate tokens / the bi-encoder's WordPiece tokens, {len(sample)} passages: "
        f"{ratio:.3f}"
    )
    pages = Pages(store, data.corpus)
    pipeline = Pipeline(store)
    reranker = (
        Reranker(args.reranker, retrieval_weight=args.retrieval_weight) if args.reranker else None
    )
    ids = sorted(q for q in data.qrels if not args.held_out or q.split("#")[0] in HELD_OUT)
    halves = {"tune": ids[0::2], "report": ids[1::2]}
    started = time.perf_counter()
    candidates: dict[str, list[Hit]] = {}
    for query_id in ids:
        hits = pipeline.retrieve(data.queries[query_id], args.k)
        if reranker:
            hits = reranker.rerank(data.queries[query_id], hits)
        candidates[query_id] = [pages.place(hit) for hit in hits]
    print(
        f"{len(ids)} questions, {args.k} candidates each, "
        f"{'reranked by ' + args.reranker + ' (fused)' if reranker else 'retrieval order'}: "
        f"{time.perf_counter() - started:.0f} s"
    )
    results: dict[tuple[str, str, int], list[tuple[float, bool, int, int, int]]] = {}
    for name, make in makers(pages).items():
        for budget in BUDGETS:
            for query_id in ids:
                context = make(candidates[query_id], budget)
                assert context.tokens <= budget, (name, budget, context.tokens)
                relevant = [pages.at[doc] for doc, grade in data.qrels[query_id].items() if grade]
                recall, complete, duplicate, total = measure(context, relevant, pages.texts)
                half = "tune" if query_id in halves["tune"] else "report"
                results.setdefault((half, name, budget), []).append(
                    (recall, complete, duplicate, total, context.tokens)
                )
    for half in ("tune", "report"):
        if not halves[half]:
            continue
        print(f"\n{half} half ({len(halves[half])} questions)\n")
        print("| context | budget | recall | complete | duplicate | tokens used |")
        print("|---|---|---|---|---|---|")
        for name in makers(pages):
            for budget in BUDGETS:
                rows = results[(half, name, budget)]
                recall = statistics.mean(row[0] for row in rows)
                complete = statistics.mean(row[1] for row in rows)
                duplicate = sum(row[2] for row in rows) / max(sum(row[3] for row in rows), 1)
                used = statistics.mean(row[4] for row in rows)
                print(
                    f"| {name} | {budget} | {recall:.3f} | {complete:.3f} | {duplicate:.3f} "
                    f"| {used:.0f} |"
                )
        means = {
            name: statistics.mean(
                row[0] for budget in BUDGETS for row in results[(half, name, budget)]
            )
            for name in makers(pages)
        }
        best = max(means, key=lambda name: means[name])
        print(f"\nmean recall over the budgets, {half} half: ")
        print(", ".join(f"{name} {value:.3f}" for name, value in means.items()))
        print(f"best on the {half} half: {best}")


if __name__ == "__main__":
    main()
