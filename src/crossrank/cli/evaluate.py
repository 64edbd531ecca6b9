"""``crossrank eval``: each stage's metrics on a BEIR-format dataset."""

from __future__ import annotations

import json
import tempfile

import click

from ..pipeline import Pipeline
from ..settings import RETRIEVALS
from .options import (
    RerankerOptions,
    RetrievalOptions,
    StoreOptions,
    reranker_options,
    retrieval_options,
    store_options,
)


@click.command(name="eval")
@click.option(
    "--dataset",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="A BEIR-format folder: corpus.jsonl, queries.jsonl, qrels/test.tsv.",
)
@store_options(db=None)
@reranker_options
@retrieval_options(RETRIEVALS)
@click.option("--split", default="test", show_default=True, help="Which qrels/<split>.tsv.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    default=None,
    help="Save recall@k and nDCG@10 charts per stage to this image file.",
)
def evaluate_command(
    dataset: str,
    store: StoreOptions,
    rerank: RerankerOptions,
    first: RetrievalOptions,
    split: str,
    as_json: bool,
    plot: str | None,
) -> None:
    """Measure nDCG@10, Recall@10/100 and MRR@10 of each stage on a BEIR-format dataset.

    The corpus is indexed into a fresh store (kept with --db; an unchanged corpus is not
    embedded again). Each --retrieval mode is a stage; its +rerank stage reorders its top K.
    """
    from .. import evaluate as ev

    data = ev.load_beir(dataset, split)
    cross = rerank.load(store)
    with tempfile.TemporaryDirectory() as scratch:
        opened = store.open(scratch)
        ev.index_corpus(opened, data, progress=not as_json)
        retrievers = {
            mode + ("+mmr" if first.mmr is not None else ""): Pipeline(
                opened, settings=first.settings(rerank.k, mode)
            )
            for mode in first.retrieval
        }
        results = ev.evaluate(opened, data, reranker=cross, k=rerank.k, retrievers=retrievers)
    if plot:
        ev.plot(data.qrels, results, plot)
    if as_json:
        stages = {
            name: {**result.metrics, "queries_per_second": result.queries_per_second}
            for name, result in results.items()
        }
        click.echo(json.dumps({"dataset": dataset, "queries": len(data.qrels), "stages": stages}))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{dataset}: {len(data.qrels)} judged queries, {len(data.corpus)} docs")
    for column in ("stage", *ev.METRICS, "queries/s"):
        table.add_column(column, justify="right")
    for name, result in results.items():
        cells = [f"{result.metrics[metric]:.4f}" for metric in ev.METRICS]
        table.add_row(name, *cells, f"{result.queries_per_second:.1f}")
    Console().print(table)
