"""The model card section that a training run writes."""

from __future__ import annotations

from pathlib import Path

from .report import TrainReport

CARD_HEADING = "## crossrank training"


def card_section(report: TrainReport) -> str:
    data = ", ".join(f"{count} {name}" for name, count in report.data.items()) or "-"
    return "\n".join(
        [
            CARD_HEADING,
            "",
            "Trained with `crossrank train` (sentence-transformers `CrossEncoderTrainer`,",
            "`MultipleNegativesRankingLoss` over mined hard and in-batch negatives).",
            "",
            "| | |",
            "|---|---|",
            f"| base model | `{report.base}` |",
            f"| training data | {data} |",
            f"| training rows | {report.examples} |",
            f"| steps / epochs | {report.steps} / {report.epochs:.2f} |",
            f"| query-passage pairs per step | {report.pairs_per_step} |",
            f"| wall time | {report.seconds / 60:.1f} min |",
            f"| pairs/s | {report.pairs_per_second} |",
            f"| precision | {report.precision} |",
            f"| stopped by --max-minutes | {'yes' if report.stopped_by_time else 'no'} |",
            f"| seed | {report.seed} |",
            "",
        ]
    )


def add_to_card(model_dir: str | Path, markdown: str) -> None:
    """Add a section to the model card (``README.md``) of a saved model.

    ``markdown`` starts with its ``## `` heading; a section already there under the same
    heading is replaced (a rerun does not stack copies), else the section is appended.
    """
    card = Path(model_dir) / "README.md"
    text = card.read_text(encoding="utf-8") if card.exists() else ""
    section = markdown.strip()
    heading = section.splitlines()[0]
    start = text.find("\n" + heading + "\n")
    if start >= 0:
        end = text.find("\n## ", start + len(heading) + 1)
        text = text[:start] + (text[end:] if end >= 0 else "")
    card.write_text(text.rstrip() + "\n\n" + section + "\n", encoding="utf-8")
