"""Section headings of Markdown and reStructuredText, for chunk metadata and pseudo-queries."""

from __future__ import annotations

import re

ATX = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")  # "## Title"
ADORNMENT = re.compile(r"^([=\-~^\"'`#*+:.<>_])\1{2,}[ \t]*$")  # "=====" under (and over) a title
FENCE = re.compile(r"^\s*(```|~~~)")
SEPARATOR = " > "


def headings(text: str) -> list[tuple[int, int, int, str]]:
    """``(start, end, level, title)`` of each heading, in order; ``start:end`` spans its lines.

    Markdown ATX headings take their level from the ``#`` count; underlined (setext and
    reST) headings take it from the order in which each adornment style first appears, as
    reST does (so Markdown's ``===`` then ``---`` are levels 1 and 2). Lines inside fenced
    code blocks are not headings.
    """
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    styles: list[tuple[str, bool]] = []
    found: list[tuple[int, int, int, str]] = []
    fenced = False
    i = 0
    while i < len(lines):
        line = lines[i].rstrip("\r\n")
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (match := ATX.match(line)):
            found.append((offsets[i], offsets[i + 1], len(match.group(1)), match.group(2)))
        elif not fenced and line.strip() and not ADORNMENT.match(line) and i + 1 < len(lines):
            under = lines[i + 1].rstrip("\r\n")
            if ADORNMENT.match(under) and len(under.strip()) >= len(line.strip()) - 1:
                above = lines[i - 1].rstrip("\r\n") if i else ""
                overlined = bool(ADORNMENT.match(above)) and above[0] == under[0]
                if overlined or not above.strip():
                    style = (under[0], overlined)
                    if style not in styles:
                        styles.append(style)
                    start = offsets[i - 1] if overlined else offsets[i]
                    found.append((start, offsets[i + 2], 1 + styles.index(style), line.strip()))
                    i += 2
                    continue
        i += 1
    return found


def section_paths(text: str) -> tuple[list[int], list[str]]:
    """Where each section starts, and its heading path (``"Guide > Install > Linux"``)."""
    starts, paths = [0], [""]
    stack: list[tuple[int, str]] = []
    for start, _, level, title in headings(text):
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        starts.append(start)
        paths.append(SEPARATOR.join(name for _, name in stack))
    return starts, paths


def strip_headings(text: str) -> str:
    """``text`` without its heading lines (a section's heading would give its query away)."""
    kept, last = [], 0
    for start, end, _, _ in headings(text):
        kept.append(text[last:start])
        last = end
    kept.append(text[last:])
    return "".join(kept).strip()
