"""The report's queries: `pages/<page>.sql`, each holding named queries (`-- name: <dataset>`).

A query reads marts through `{{ ref('<model>') }}` and the raw schema's bookkeeping through
`{{ raw('<table>') }}`; the warehouse reader says what each becomes (warehouse.py).
"""

from __future__ import annotations

import re
from importlib import resources

PAGES = ("header", "fleet", "failures", "slowest", "access", "audit", "platform")
_NAME = re.compile(r"^-- name: ([a-z_]+)\s*$", re.M)


def page_queries(page: str) -> dict[str, str]:
    """dataset -> SQL, in the order the file holds them."""
    text = (resources.files("airflow_audit_report") / "pages" / f"{page}.sql").read_text()
    parts = _NAME.split(text)
    return {name: sql.strip() for name, sql in zip(parts[1::2], parts[2::2], strict=True)}


def all_queries() -> dict[str, str]:
    found: dict[str, str] = {}
    for page in PAGES:
        found.update(page_queries(page))
    return found
