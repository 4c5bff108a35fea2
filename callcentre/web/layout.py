"""One accessible page layout: plain HTML, high contrast, readable at 200 % zoom, no JS needed."""

from __future__ import annotations

import html
import re

STYLE = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; padding: 1rem;
       max-width: 70rem; color: #0b0c0c; background: #fff; line-height: 1.5; font-size: 1.1rem; }
a { color: #1d4f91; } a:focus, button:focus, select:focus, input:focus, .scroll:focus { outline: 3px solid #fd0; }
.scroll { overflow-x: auto; margin: 1rem 0; } .scroll table { margin: 0; }
h1 { overflow-wrap: break-word; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
caption { text-align: start; font-weight: bold; padding: .3rem 0; }
th, td { text-align: start; padding: .4rem .6rem; border-bottom: 1px solid #505a5f; vertical-align: top; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.met { color: #00703c; font-weight: bold; } .missed { color: #a4120d; font-weight: bold; }
.formula { color: #383f43; font-size: .95rem; }
.banner { background: #fd0; color: #0b0c0c; padding: .6rem; font-weight: bold; }
.tiles { display: flex; flex-wrap: wrap; gap: 1rem; }
.tile { border: 2px solid #0b0c0c; padding: .8rem 1rem; min-width: 12rem; flex: 1 1 12rem; }
.tile .value { font-size: 2.2rem; font-weight: bold; display: block; }
form.period { display: flex; flex-wrap: wrap; gap: .6rem; align-items: end; }
form.period label { display: flex; flex-direction: column; }
svg text { font-size: 12px; fill: #0b0c0c; }
nav.languages ul { list-style: none; display: flex; flex-wrap: wrap; gap: .4rem 1.2rem; margin: 0; padding: 0; }
nav.languages a { display: inline-block; padding-block: .3rem; }
nav.languages a[aria-current] { font-weight: bold; text-decoration: none; color: #0b0c0c; }
"""


def page(title: str, body: str, head_extra: str = "", *, lang: str = "en",
         direction: str = "ltr", header: str = "") -> str:
    """A whole document; ``lang`` and ``direction`` (ltr, rtl) go on <html>, and the
    stylesheet uses logical sides (start, padding-block) so a right-to-left page mirrors."""
    top = f"<header>{header}</header>" if header else ""
    return (f'<!doctype html><html lang="{html.escape(lang)}" dir="{html.escape(direction)}">'
            f'<head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{STYLE}</style>{head_extra}</head>"
            f"<body>{top}<main>{body}</main></body></html>")


def esc(value: object) -> str:
    return html.escape(str(value))


_BODY = re.compile(r"<body[^>]*>", re.IGNORECASE)


def with_banner(document: str, banner: str) -> str:
    """``document`` with ``banner`` as the first thing in its body (e.g. DEMO on every page)."""
    tag = f'<p class="banner" role="status" style="{_BANNER_STYLE}">{html.escape(banner)}</p>'
    found = _BODY.search(document)
    if found is None:
        return tag + document
    return document[:found.end()] + tag + document[found.end():]


_BANNER_STYLE = "background:#fd0;color:#0b0c0c;padding:.6rem;margin:0;font-weight:bold"
