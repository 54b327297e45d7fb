"""Self-contained HTML pages (rank and study reports): one stylesheet, escaping, tables."""

from __future__ import annotations

import html
from typing import Iterable, Sequence

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ddd;padding:3px 6px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}.flag{color:#b00020;font-weight:600}
.meta td{border:none;padding:1px 10px 1px 0;text-align:left}.note{color:#555;font-size:12px;max-width:900px}
svg text{font-size:11px;font-family:inherit}.cols{display:flex;gap:32px;flex-wrap:wrap}
"""


def escape(x: object) -> str:
    return html.escape(str(x), quote=True)


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], left_cols: int = 1) -> str:
    """``rows`` of already-escaped cell HTML; the first ``left_cols`` columns align left."""
    th = "".join(f'<th class="{"l" if i < left_cols else ""}">{escape(h)}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i < left_cols else ""}">{c}</td>' for i, c in enumerate(r))
                   + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n")
