"""The report as one self-contained HTML page (index.html): `template.html` and `style.css`
filled in, figures inlined as data URIs, nothing fetched from the network."""

from __future__ import annotations

import base64
import html
import re
from importlib import resources
from string import Template

from regpt2.report.document import (
    Block,
    NotRun,
    Paragraph,
    Plot,
    Report,
    Section,
    Table,
    numeric_columns,
)

# The page and its stylesheet are plain files beside this module (package data, listed in
# pyproject.toml), so they read, diff and lint as HTML and CSS. The template's Content Security
# Policy forbids every fetch but inline styles, the one inline script and data: images: the page
# cannot reach the network even if edited. Its script records whether every image decoded
# (data-images="loaded/total" on <html>), for tests and curious readers.
_HERE = resources.files("regpt2.report")
PAGE = Template(_HERE.joinpath("template.html").read_text(encoding="utf-8"))
CSS = _HERE.joinpath("style.css").read_text(encoding="utf-8")


INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*")


def _inline(text: str) -> str:
    """Escape `text` for HTML and turn `code`, **bold** and *italic* into tags."""
    out, position = [], 0
    for match in INLINE.finditer(text):
        out.append(html.escape(text[position : match.start()]))
        code, bold, italic = match.groups()
        if code is not None:
            out.append(f"<code>{html.escape(code)}</code>")
        elif bold is not None:
            out.append(f"<strong>{html.escape(bold)}</strong>")
        else:
            out.append(f"<em>{html.escape(italic)}</em>")
        position = match.end()
    out.append(html.escape(text[position:]))
    return "".join(out)


def _badge(verdict: str) -> str:
    css = verdict.replace(" ", "-")
    return f'<span class="badge {css}">{html.escape(verdict)}</span>'


def html_table(table: Table) -> str:
    numeric = numeric_columns(table)

    def cls(index: int) -> str:
        return ' class="num"' if numeric[index] else ""

    head = "".join(f"<th{cls(i)}>{_inline(c)}</th>" for i, c in enumerate(table.columns))
    body = []
    for row in table.rows:
        cells = []
        for index, cell in enumerate(row):
            content = _badge(cell) if index == table.badge_column else _inline(cell)
            cells.append(f"<td{cls(index)}>{content}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    caption = f"<caption>{_inline(table.caption)}</caption>" if table.caption else ""
    note = f'<p class="note">{_inline(table.note)}</p>' if table.note else ""
    return (
        f'<div class="table-wrap"><table>{caption}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>{note}"
    )


def html_block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{_inline(block.text)}</p>"
    if isinstance(block, Plot):
        data = base64.b64encode(block.png).decode("ascii")
        return (
            f'<figure id="fig-{block.name}"><img src="data:image/png;base64,{data}" '
            f'alt="{html.escape(block.caption)}"><figcaption>{_inline(block.caption)}'
            "</figcaption></figure>"
        )
    if isinstance(block, NotRun):
        missing = ", ".join(f"<code>{html.escape(p)}</code>" for p in block.missing)
        return (
            f'<div class="notrun"><strong>NOT RUN</strong> — stage '
            f"<code>{html.escape(block.stage)}</code> has not produced {missing}. "
            "Run <code>dvc repro</code> to fill this in.</div>"
        )
    return html_table(block)


def html_section(section: Section) -> str:
    status = (
        ""
        if section.status == "ok"
        else f' <span class="status {section.status.replace(" ", "-")}">{section.status}</span>'
    )
    body = "\n".join(html_block(block) for block in section.blocks)
    return (
        f'<section id="{section.id}" class="{section.status.replace(" ", "-")}">'
        f"<h2>{html.escape(section.title)}{status}</h2>\n{body}</section>"
    )


def render_html(report: Report) -> str:
    banner = report.banner()
    banner_html = (
        f'<div class="banner {banner[0]}" role="alert">{html.escape(banner[1])}</div>'
        if banner
        else ""
    )
    sources = ", ".join(
        f"{html.escape(k)} = <code>{html.escape(v)}</code>" for k, v in report.sources.items() if v
    )
    toc = "".join(
        f'<li><a href="#{s.id}">{html.escape(s.title)}</a>'
        + (
            ""
            if s.status == "ok"
            else f' <span class="status {s.status.replace(" ", "-")}">{s.status}</span>'
        )
        + "</li>"
        for s in report.sections
    )
    return PAGE.substitute(
        title=html.escape(report.title),
        css=CSS,
        banner=banner_html,
        meta=f"Profile <strong>{html.escape(report.profile)}</strong>. Sources: {sources}.",
        toc=toc,
        body="\n".join(html_section(section) for section in report.sections),
    )
