"""``crossrank train``: a reranker fine-tuned on the indexed corpus."""

from __future__ import annotations

import click

from ..pipeline import Pipeline
from ..settings import DEFAULT_ENCODER
from .options import StoreOptions, store_options


@click.command()
@click.argument("out", type=click.Path(file_okay=False))
@store_options()
@click.option(
    "--base",
    default=DEFAULT_ENCODER,
    show_default=True,
    help="Start from this cross-encoder, or bi-encoder (its encoder gets a fresh score head).",
)
@click.option(
    "--pairs",
    multiple=True,
    type=click.Path(dir_okay=False),
    help='Labelled pairs: JSON lines {"query": ..., "passage": ...}. Repeatable.',
)
@click.option(
    "--qrels",
    "qrels_dataset",
    type=click.Path(exists=True, file_okay=False),
    help="A BEIR folder whose qrels/train.tsv labels its corpus (indexed into --db).",
)
@click.option("--no-pseudo", is_flag=True, help="No pseudo-queries from the index's headings.")
@click.option(
    "--max-examples",
    type=click.IntRange(min=1),
    default=None,
    help="Use at most this many pseudo-queries (a random, seeded sample).",
)
@click.option("--negatives", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True), default=1.0)
@click.option("--batch-size", type=click.IntRange(min=2), default=16, show_default=True)
@click.option(
    "--learning-rate", type=click.FloatRange(min=0, min_open=True), default=1e-4, show_default=True
)
@click.option(
    "--max-minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stop training (and save the model) after this many minutes.",
)
@click.option("--resume", is_flag=True, help="Continue from OUT's last checkpoint.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def train(
    out: str,
    store: StoreOptions,
    base: str,
    pairs: tuple[str, ...],
    qrels_dataset: str | None,
    no_pseudo: bool,
    max_examples: int | None,
    negatives: int,
    epochs: float,
    batch_size: int,
    learning_rate: float,
    max_minutes: float | None,
    resume: bool,
    seed: int,
    quiet: bool,
) -> None:
    """Train a reranker for the indexed corpus and save it to OUT; no hand labels needed.

    Pseudo-queries are the heading paths of the indexed Markdown/reST sections, each with
    its section's first chunk as the answer; --pairs and --qrels add labelled ones. Hard
    negatives are mined with hybrid retrieval. Use the result with --reranker OUT.
    """
    from .. import train as tr
    from ..beir import load_beir

    opened = store.open()
    if opened.count() == 0:
        raise click.ClickException(f"{opened.connection.describe()} is empty: index first")
    examples, data = tr.gather(
        opened,
        pseudo=not no_pseudo,
        max_examples=max_examples,
        pairs=pairs,
        qrels=load_beir(qrels_dataset, "train") if qrels_dataset else None,
        seed=seed,
        progress=not quiet,
    )
    rows = tr.mine(Pipeline(opened), examples, negatives=negatives, seed=seed, progress=not quiet)
    report = tr.train(
        rows,
        out,
        base=base,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        max_minutes=max_minutes,
        resume=resume,
        seed=seed,
        precision=store.precision,
        device=store.device,
        progress=not quiet,
        data=data,
    )
    click.echo(
        f"trained {out}: {report.examples} rows, {report.steps} steps in "
        f"{report.seconds / 60:.1f} min ({report.pairs_per_second} pairs/s); "
        f"use it with --reranker {out}"
    )
