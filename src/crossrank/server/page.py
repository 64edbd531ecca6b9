"""The page at ``/``: one question, looked at stage by stage.

Server-rendered HTML with its style inline: no script, no build step, nothing fetched from
elsewhere. Everything shown is escaped (a chunk holding ``<script>`` shows as text).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from ..context import Context
from ..hit import SOURCE, Hit
from ..tracing import Stage, ranks

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 76em; color: #222; }
form { display: flex; gap: .5em; } input { flex: 1; font: inherit; padding: .4em; }
table { border-collapse: collapse; width: 100%; margin: .5em 0 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: .35em .5em; text-align: left;
  vertical-align: top; }
td.n { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
mark { background: #fde68a; } .up { color: #15803d; } .down { color: #b91c1c; }
pre { white-space: pre-wrap; background: #f6f6f4; padding: 1em; border-radius: 4px; }
.stage { font-family: ui-monospace, monospace; } .muted { color: #777; }
"""


def render(
    query: str = "",
    hits: Sequence[Hit] = (),
    stages: Sequence[Stage] = (),
    context: Context | None = None,
) -> str:
    """The page: the form, and for a query its stages, hits and the LLM's context."""
    body = [
        "<h1>crossrank</h1>",
        '<form method="get" action="/"><input name="q" autofocus placeholder="Ask a question"'
        f' value="{escape(query)}"><button>Search</button></form>',
    ]
    if query:
        body += _timings(stages) + _hits(hits, stages) + _context(context)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>crossrank{': ' + escape(query) if query else ''}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>"
    )


def _timings(stages: Sequence[Stage]) -> list[str]:
    rows = "".join(
        f'<tr><td class="stage" style="padding-left:{0.5 + 1.5 * s.depth}em">{escape(s.name)}'
        f'</td><td class="n">{1000 * s.seconds:.1f} ms</td></tr>'
        for s in stages
    )
    return ["<h2>Where the time went</h2>", f"<table>{rows}</table>"]


def _hits(hits: Sequence[Hit], stages: Sequence[Stage]) -> list[str]:
    ranked = ranks(stages)
    first = next((name for name in ranked if name != "rerank"), None)
    head = "".join(f'<th class="n">{escape(name)}</th>' for name in ranked)
    rows = []
    for rank, hit in enumerate(hits, 1):
        cells = "".join(_cell(ranked[name].get(hit.id)) for name in ranked)
        moved = ""
        if first is not None and hit.id in ranked[first]:
            step = ranked[first][hit.id][0] - rank
            arrow = ("up", "&#9650;") if step > 0 else ("down", "&#9660;") if step < 0 else ("", "")
            moved = f'<span class="{arrow[0]}">{arrow[1]}{abs(step) or "="}</span>'
        source = escape(str(hit.metadata.get(SOURCE, "")))
        rows.append(
            f'<tr><td class="n">{rank}</td>{cells}<td class="n">{moved}</td>'
            f"<td>{source}</td><td>{_highlighted(hit)}</td></tr>"
        )
    return [
        "<h2>Each hit at each stage</h2>",
        '<p class="muted">rank (score) per stage; moved: from the first stage to the end; '
        "the highlighted span is the reranker's evidence.</p>",
        f'<table><tr><th class="n">#</th>{head}<th class="n">moved</th><th>source</th>'
        f"<th>text</th></tr>{''.join(rows)}</table>",
    ]


def _cell(found: tuple[int, float | None] | None) -> str:
    if found is None:
        return '<td class="n muted">-</td>'
    rank, score = found
    shown = "" if score is None else f' <span class="muted">({score:.3f})</span>'
    return f'<td class="n">{rank}{shown}</td>'


def _highlighted(hit: Hit) -> str:
    text = hit.text
    if not hit.evidence or hit.evidence == (0, len(text)):
        return escape(text)
    start, end = hit.evidence
    return f"{escape(text[:start])}<mark>{escape(text[start:end])}</mark>{escape(text[end:])}"


def _context(context: Context | None) -> list[str]:
    if context is None:
        return []
    return [
        f"<h2>The context an LLM gets ({context.tokens} of {context.budget} tokens)</h2>",
        f"<pre>{escape(context.text)}</pre>",
    ]
