"""Write CPython's own help topics (``pydoc_data.topics``) as a folder of .txt files.

Real documentation text that every Python install carries offline: the sample corpus
for ``make demo``, the quickstart and the tests.

Usage: python examples/sample_corpus.py OUT_DIR [--limit N]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from pydoc_data.topics import topics


def write_corpus(out: Path, limit: int | None = None) -> list[Path]:
    """Write one file per help topic (sorted by name, at most ``limit``); return the paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in sorted(topics)[:limit]:
        path = out / f"{name}.txt"
        path.write_text(topics[name], encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    written = write_corpus(args.out, args.limit)
    print(f"wrote {len(written)} topics to {args.out}")
