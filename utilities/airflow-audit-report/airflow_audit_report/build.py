"""Build the site: run the pages' queries on the warehouse, render one HTML file per page.

The site is self-contained: every script and style is a file inside it (Plotly's bundle is copied
from the Python package), the data is embedded in each page, and nothing is fetched when a page
opens, so `index.html` works from file:// on a machine with no network.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from airflow_audit_report.queries import page_queries


@dataclass(frozen=True)
class Page:
    file: str
    title: str
    question: str
    sql: tuple[str, ...]  # the pages/*.sql files it reads


PAGES = (
    Page(
        "index.html",
        "Fleet health",
        "How many runs succeed, how long they take and how long they wait, day by day.",
        ("fleet",),
    ),
    Page(
        "failures.html",
        "Failures",
        "Where and when things fail, which tasks fail and retry most, and the latest failures.",
        ("fleet", "failures"),
    ),
    Page(
        "slowest.html",
        "Slowest",
        "Which DAGs and tasks take longest, and which got slower.",
        ("slowest",),
    ),
    Page(
        "access.html",
        "Access",
        "Who can change connections, variables and users or run any DAG; dormant accounts; failed logins; role grants.",
        ("access",),
    ),
    Page(
        "alerts.html",
        "Alerts & changes",
        "What someone should look at now, and who changed access, DAGs, connections and variables.",
        ("alerts",),
    ),
    Page(
        "audit.html",
        "Audit trail",
        "Who triggered, paused, cleared or marked what, and who changed a variable, connection, pool or user.",
        ("audit",),
    ),
    Page(
        "platform.html",
        "Platform",
        "DAG files that do not import, and whether the scheduler's components are alive.",
        ("platform",),
    ),
)


def build(reader, output: Path, configured_schema: str | None, warehouse_label: str) -> list[Path]:
    """Write the site into `output` (replacing the pages and assets there); return the pages."""
    envs = reader.environments(configured_schema)
    datasets: dict[str, dict[str, dict]] = {}
    for env in envs:
        queries = page_queries("header")
        for page in PAGES:
            for sql in page.sql:
                queries.update(page_queries(sql))
        datasets[env.slug] = reader.read(env, queries)

    output.mkdir(parents=True, exist_ok=True)
    assets = output / "assets"
    assets.mkdir(exist_ok=True)
    package = resources.files("airflow_audit_report")
    for name in ("report.css", "report.js"):
        (assets / name).write_text((package / "assets" / name).read_text())
    plotly_js = resources.files("plotly") / "package_data" / "plotly.min.js"
    with resources.as_file(plotly_js) as source:
        shutil.copyfile(source, assets / "plotly.min.js")

    templates = Environment(
        loader=FileSystemLoader(str(package / "templates")),
        autoescape=select_autoescape(["html"]),
    )
    generated_at = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    written = []
    for page in PAGES:
        wanted = set(page_queries("header"))
        for sql in page.sql:
            wanted |= set(page_queries(sql))
        data = {
            "envs": [
                {
                    "slug": env.slug,
                    "data": {k: v for k, v in datasets[env.slug].items() if k in wanted},
                }
                for env in envs
            ]
        }
        # embedded in a <script type="application/json">: no `<` may end it or open a comment
        data_json = json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")
        html = templates.get_template(page.file).render(
            title=page.title,
            question=page.question,
            file=page.file,
            pages=PAGES,
            generated_at=generated_at,
            warehouse=warehouse_label,
            data_json=data_json,
        )
        path = output / page.file
        path.write_text(html)
        written.append(path)
    return written
