"""Build a BEIR-format retrieval set from the Python 3.11 documentation, offline.

Queries are the FAQ questions verbatim (FAQ headings ending in "?"); the relevant passages
are the passages of each question's answer; every other passage of the documentation is a
distractor. Each passage's ``metadata.section`` is its section's heading path ("Title >
Section"), from which ``crossrank train`` makes pseudo-queries. The question's own heading
never appears inside its passages (headings are not part of passage text). The reST
sources come from Debian's ``python3.11-doc`` package.

Usage:
    python benchmarks/datasets/python_docs.py OUT_DIR [--sources DIR] [--words N]

Without ``--sources`` it runs ``apt-get download python3.11-doc`` and unpacks the sources
with ``dpkg-deb``. OUT_DIR gets ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/test.tsv``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

UNDERLINE = re.compile(r"^([=\-~^\"'`#*+])\1{2,}\s*$")
ROLE = re.compile(r":[\w:.-]+:`([^`]+)`")  # :func:`x`, :ref:`text <label>`
LINK = re.compile(r"`([^`<]+?)\s*<[^>]+>`_+")  # `text <url>`_
LITERAL = re.compile(r"``([^`]+)``")
DIRECTIVE = re.compile(r"^\s*(\.\. [\w:-]+::.*|\.\. _[^:]+:|\.\. \|.*|:\w+: .*)$")


def fetch_sources(workdir: Path) -> Path:
    """Download python3.11-doc with apt and unpack its reST sources; return their folder."""
    download = ["apt-get", "download", "python3.11-doc"]
    if subprocess.run(download, cwd=workdir).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], check=True)  # a fresh machine's lists
        subprocess.run(download, cwd=workdir, check=True)
    [deb] = workdir.glob("python3.11-doc_*.deb")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(workdir / "pkg")], check=True)
    return workdir / "pkg/usr/share/doc/python3.11/html/_sources"


def clean(text: str) -> str:
    """Markup to plain text: roles and links keep their visible text."""
    text = ROLE.sub(lambda m: m.group(1).split("<")[0].strip().lstrip("~!") or m.group(1), text)
    text = LINK.sub(r"\1", text)
    return LITERAL.sub(r"\1", text)


def sections(text: str) -> Iterator[tuple[str, str, list[str]]]:
    """``(heading, heading path, body lines)`` for each section of a reST file.

    Headings are stripped out of the bodies; a heading's level is the order in which its
    adornment style first appears in the file, as in reST.
    """
    lines = text.splitlines()
    heading, body = "", []
    styles: list[tuple[str, bool]] = []
    stack: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and UNDERLINE.match(nxt) and len(nxt.strip()) >= len(line.strip()) - 1:
            if UNDERLINE.match(line):  # an overline above a title
                i += 1
                continue
            yield heading, " > ".join(clean(name) for _, name in stack), body
            heading, body = line.strip(), []
            style = (nxt.strip()[0], i > 0 and bool(UNDERLINE.match(lines[i - 1])))
            styles += [style] if style not in styles else []
            level = styles.index(style)
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, heading))
            i += 2
            continue
        if not UNDERLINE.match(line):
            body.append(line)
        i += 1
    yield heading, " > ".join(clean(name) for _, name in stack), body


def passages(body: list[str], words: int) -> list[str]:
    """Group a section's paragraphs into passages of about ``words`` words."""
    paragraphs, current = [], []
    for line in body:
        if DIRECTIVE.match(line):
            continue
        if line.strip():
            current.append(line.strip())
        elif current:
            paragraphs.append(clean(" ".join(current)))
            current = []
    if current:
        paragraphs.append(clean(" ".join(current)))
    out, chunk = [], []
    for paragraph in paragraphs:
        if chunk and len(" ".join(chunk).split()) + len(paragraph.split()) > words:
            out.append(" ".join(chunk))
            chunk = []
        chunk.append(paragraph)
    if chunk:
        out.append(" ".join(chunk))
    return [p for p in out if len(p.split()) >= 5]


def build(sources: Path, out: Path, words: int = 150) -> dict[str, int]:
    corpus, queries, qrels = [], [], []
    for path in sorted(sources.rglob("*.rst.txt")):
        name = str(path.relative_to(sources)).removesuffix(".rst.txt")
        is_faq = name.startswith("faq/")
        title = ""
        text = path.read_text(encoding="utf-8")
        for n, (heading, section, body) in enumerate(sections(text)):
            title = title or clean(heading)
            pieces = passages(body, words)
            ids = [f"{name}#{n}.{i}" for i in range(len(pieces))]
            corpus += [
                {"_id": i, "title": title, "text": p, "metadata": {"section": section}}
                for i, p in zip(ids, pieces, strict=True)
            ]
            if is_faq and heading.endswith("?") and pieces:
                qid = f"{name}#{n}"
                queries.append({"_id": qid, "text": heading})
                qrels += [(qid, i) for i in ids]
    out.mkdir(parents=True, exist_ok=True)
    (out / "qrels").mkdir(exist_ok=True)
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(doc, ensure_ascii=False) + "\n" for doc in corpus)
    with (out / "queries.jsonl").open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(q, ensure_ascii=False) + "\n" for q in queries)
    with (out / "qrels" / "test.tsv").open("w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        f.writelines(f"{q}\t{d}\t1\n" for q, d in qrels)
    return {"passages": len(corpus), "queries": len(queries), "qrels": len(qrels)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--sources", type=Path, help="the unpacked html/_sources folder")
    parser.add_argument("--words", type=int, default=150, help="words per passage (about)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        sources = args.sources or fetch_sources(Path(work))
        counts = build(sources, args.out, args.words)
    print(f"wrote {args.out}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
