"""The study report: every table and figure of the study, beside this run's numbers.

`build_report(root, out_dir, ...)` reads what the stages wrote under `root` (metrics/*.json,
data/plots/*.csv, data/eval, data/translate, data/probe), builds a list of `Section`s -- each
a small structured document of paragraphs, tables and figures -- and renders it twice:

- `index.html`: self-contained (inline CSS, figures as base64 PNG data URIs, a Content Security
  Policy that forbids every network fetch), so it renders offline and can be mailed on its own;
- `index.md`: the Markdown twin, small and diff-friendly, with figures as relative files under
  `figures/`.

A stage that has not run gets a clearly marked "not run" section; nothing needs every stage.
The findings section checks the study's claims from the numbers; no conclusion is hard-coded.

Reading order: `document` (the document model), `inputs` (what the stages wrote), `build`
(sections in order, then both renderings), one module per section under `sections/`, `claims`
(the study's claims, judged by `regpt2.analysis.verdicts`), `to_markdown` / `to_html` (with
`template.html` and `style.css`); `formatting` and `figures` serve the sections.
"""

from regpt2.report.build import assemble_report, build_report, compute_findings
from regpt2.report.document import Report, ReportPaths
from regpt2.report.experiments import experiments_from_dvc, experiments_markdown, parse_exp_show

__all__ = [
    "Report",
    "ReportPaths",
    "assemble_report",
    "build_report",
    "compute_findings",
    "experiments_from_dvc",
    "experiments_markdown",
    "parse_exp_show",
]
