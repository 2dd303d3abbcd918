"""The report page: sections (a figure, its caption, the table of numbers behind it) rendered into
one self-contained HTML file: inline CSS, images by relative path, no scripts, no network."""

from __future__ import annotations

import datetime
import html
import json
import math
import os
import sys
from dataclasses import dataclass, field

import numpy as np

from ..runs.checkpoint import atomic_write


@dataclass
class Table:
    headers: list[str]
    rows: list[list]
    title: str = ""


@dataclass
class Section:
    """One figure of the report: `images` are file names relative to the page."""

    anchor: str
    title: str
    images: list[str]
    caption: str
    tables: list[Table] = field(default_factory=list)
    note: str = ""
    texts: list[tuple[str, str]] = field(default_factory=list)  # (heading, preformatted text)


def fmt(value, digits: int = 3) -> str:
    """A table cell: numbers to `digits` significant figures, None/nan as a dash."""
    if value is None:
        return "-"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return "-" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}g}"
    return str(value)


CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.95em; color: #333; margin-top: 0.4em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0 1em 0; }
th, td { border: 1px solid #ddd; padding: 0.2em 0.5em; text-align: right; }
th { background: #f4f4f4; }
td:first-child, th:first-child { text-align: left; }
caption { text-align: left; font-weight: 600; padding: 0.3em 0; }
nav ul { columns: 2; }
.note { color: #8a4b00; }
code, pre { background: #f6f6f6; padding: 0 0.2em; }
pre { padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
details { margin: 0.5em 0; }
"""


def table_html(table: Table) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in table.headers)
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(fmt(c))}</td>" for c in row) + "</tr>"
                     for row in table.rows)
    caption = f"<caption>{html.escape(table.title)}</caption>" if table.title else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>"


def section_html(section: Section) -> str:
    parts = [f'<section id="{html.escape(section.anchor)}">',
             f"<h2>{html.escape(section.title)}</h2>"]
    if section.note:
        parts.append(f'<p class="note">{html.escape(section.note)}</p>')
    if section.images:
        parts.append("<figure>")
        for image in section.images:
            parts.append(f'<img src="{html.escape(image)}" alt="{html.escape(section.title)}">')
        parts.append(f"<figcaption>{html.escape(section.caption)}</figcaption></figure>")
    elif section.caption:
        parts.append(f"<p>{html.escape(section.caption)}</p>")
    for table in section.tables:
        if len(table.rows) > 40:
            parts.append(f"<details><summary>{html.escape(table.title or 'table')} "
                         f"({len(table.rows)} rows)</summary>{table_html(table)}</details>")
        else:
            parts.append(table_html(table))
    for heading, text in section.texts:
        parts.append(f"<p>{html.escape(heading)}</p><pre>{html.escape(text)}</pre>")
    parts.append("</section>")
    return "\n".join(parts)


def render_page(title: str, intro: str, sections: list[Section], settings: Table,
                settings_json: str) -> str:
    """The whole page: title, contents, every section, then the run settings."""
    contents = "".join(f'<li><a href="#{html.escape(s.anchor)}">{html.escape(s.title)}</a></li>'
                       for s in sections)
    body = "\n".join(section_html(s) for s in sections)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{CSS}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p>{html.escape(intro)}</p>
<nav><ul>{contents}<li><a href="#settings">Run settings</a></li></ul></nav>
{body}
<section id="settings">
<h2>Run settings</h2>
{table_html(settings)}
<details><summary>every configuration (JSON)</summary><pre>{html.escape(settings_json)}</pre>
</details>
</section>
</body>
</html>
"""


def report_dirs(out_dir: str, results_dir: str | None) -> str:
    """Make the report's directory and its results directory (default OUT/results); the latter's
    path."""
    results_dir = results_dir or os.path.join(out_dir, "results")
    os.makedirs(out_dir, exist_ok=True)
    os.makedirs(results_dir, exist_ok=True)
    return results_dir


def write_page(out_dir: str, title: str, command: str, elapsed: float, results_dir: str,
               reuse: str, sections: list[Section], settings: Table, everything,
               progress: bool) -> str:
    """Render the page into OUT/index.html (atomically) under an intro that says when `command`
    made it, in how long, from which results (`reuse`: what a rerun does with them); returns
    its path."""
    intro = (f"Generated {datetime.datetime.now().isoformat(timespec='seconds')} by \"{command}\" "
             f"in {elapsed:.0f} s from the results in {results_dir} ({reuse}")
    page = render_page(title, intro, sections, settings,
                       json.dumps(everything, indent=1, sort_keys=True, default=str))
    path = os.path.join(out_dir, "index.html")
    data = page.encode("utf-8")
    atomic_write(path, lambda f: f.write(data))
    if progress:
        print(f"[report] wrote {path} in {elapsed:.0f} s", file=sys.stderr, flush=True)
    return path
