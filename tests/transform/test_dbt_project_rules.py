"""The dbt project's structure rules, checked on the manifest dbt itself parses, and the SQL lint.

dbt-project-evaluator (and dbt_utils) cannot be installed here, so its main rules are written out below as
plain functions over `manifest.json` (from `meltano invoke dbt-duckdb:parse`):

- only staging models call source(); each reads exactly one source table and no other model;
- every source table is read by exactly one staging model, and has a freshness check;
- intermediate models and marts never depend on a source directly;
- model names carry their folder's prefix (staging stg_, intermediate int_, marts fct_/dim_/rpt_);
- every model and every column it declares has a description; personal data is tagged pii;
- every model has a primary key tested both unique and not_null, or listed in the model's
  not_null_columns test (but bookkeeping without data, declared by `meta: airflow_audit_bookkeeping`);
- no model re-joins an upstream concept (A -> B -> C and A -> C where B's only child is C);
- no hard-coded relation names, and no one warehouse's SQL in a model, nor in a macro every
  warehouse runs.

Each rule is also run on a manifest with a planted violation, so a rule that stopped detecting anything
would fail here too. The lint runs sqlfluff with transform/.sqlfluff over every model.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from copy import deepcopy
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT, meltano

Manifest = dict[str, Any]
PROJECT = "airflow_audit"
FOLDER_PREFIXES = {
    "staging": ("stg_",),
    "intermediate": ("int_",),
    "marts": ("fct_", "dim_", "rpt_"),
}
# Columns holding personal data wherever they appear (user names, display names, e-mails, free text
# that names users).
PII_COLUMNS = {
    "username",
    "email",
    "first_name",
    "last_name",
    "owner",
    "owners",
    "owner_links",
    "owner_display_name",
    "actor",
    "actor_display_name",
    "triggering_user_name",
    "extra",
}
# Warehouse-specific syntax that has a cross-database macro (dbt.*) or a project macro instead.
NON_PORTABLE_SQL = {
    r"::": "a `::` cast (use cast(... as {{ dbt.type_*() }}))",
    r"\bquantile_cont\s*\(|\bpercentile_cont\s*\(|\bmedian\s*\(": "a percentile (use airflow_audit_percentile)",
    r"\bstring_agg\s*\(|\blistagg\s*\(|\bgroup_concat\s*\(": "a string aggregate (use dbt.listagg)",
    r"\bdate_?diff\s*\(|\btimestamp_diff\s*\(": "a date difference (use dbt.datediff)",
    r"\bdate_?add\s*\(": "date arithmetic (use dbt.dateadd)",
    r"\bdate_trunc\s*\(|\btimestamp_trunc\s*\(": "a date truncation (use dbt.date_trunc)",
    r"\bepoch\s*\(|\bstrftime\s*\(|\bto_char\s*\(": "a date function of one warehouse",
    r"\bnow\s*\(\)|\bgetdate\s*\(|\bcurrent_timestamp\b": "the current time (use dbt.current_timestamp)",
    r"\bilike\b|\bqualify\b|\bfilter\s*\(\s*where": "syntax some warehouses lack (ilike, qualify, filter)",
    r"\btry_cast\s*\(|\bsafe_cast\s*\(": "a safe cast (use dbt.safe_cast)",
    r"\bifnull\s*\(|\bnvl\s*\(|\biff\s*\(": "a null function of one warehouse (use coalesce / case)",
    r"\bbool_or\s*\(|\bbool_and\s*\(|\bboolor_agg\s*\(|\blogical_or\s*\(": "a boolean aggregate",
    r"\bunion\b(?!\s+all\b)": (
        "a bare UNION or UNION DISTINCT (BigQuery refuses the one, Snowflake and Redshift the other; use "
        "union all or airflow_audit_distinct_set_operator)"
    ),
    r"\bexcept\b|\bintersect\b": (
        "a bare EXCEPT or INTERSECT (BigQuery refuses it; use airflow_audit_distinct_set_operator)"
    ),
    r"\bregexp_\w+\s*\(": "a regular-expression function of one warehouse",
}


# ---------------------------------------------------------------------------------------------------------
# The rules: each takes the manifest and returns one sentence per violation.
# ---------------------------------------------------------------------------------------------------------


def models(manifest: Manifest) -> dict[str, dict]:
    return {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node["package_name"] == PROJECT
    }


def folder(node: dict) -> str:
    """The model's top folder under models/: staging, intermediate or marts."""
    return node["fqn"][1] if len(node["fqn"]) > 2 else ""


def parents(node: dict) -> list[str]:
    return node["depends_on"]["nodes"]


def rule_only_staging_reads_sources(manifest: Manifest) -> list[str]:
    return [
        f"{node['name']} ({folder(node)}) reads {p}: only staging models may call source()"
        for node in models(manifest).values()
        if folder(node) != "staging"
        for p in parents(node)
        if p.startswith("source.")
    ]


def rule_staging_reads_one_source_and_no_model(manifest: Manifest) -> list[str]:
    problems = []
    for node in models(manifest).values():
        if folder(node) != "staging":
            continue
        sources = [p for p in parents(node) if p.startswith("source.")]
        refs = [p for p in parents(node) if not p.startswith("source.")]
        if len(sources) != 1:
            problems.append(
                f"{node['name']} reads {len(sources)} sources: a staging model reads one"
            )
        if refs:
            problems.append(f"{node['name']} depends on {refs}: staging models join nothing")
    return problems


def rule_each_source_has_one_staging_model(manifest: Manifest) -> list[str]:
    readers: dict[str, list[str]] = {uid: [] for uid in manifest["sources"]}
    for node in models(manifest).values():
        for p in parents(node):
            if p in readers:
                readers[p].append(node["name"])
    return [
        f"source {uid} is read by {names or 'no model'}: each source table has one staging model"
        for uid, names in readers.items()
        if len(names) != 1
    ]


def rule_sources_have_freshness(manifest: Manifest) -> list[str]:
    def checked(source: dict) -> bool:
        freshness = source.get("freshness") or {}
        return any(
            (freshness.get(level) or {}).get("count") for level in ("warn_after", "error_after")
        )

    return [
        f"source {uid} has no freshness check (warn_after / error_after)"
        for uid, source in manifest["sources"].items()
        if not checked(source)
    ]


def rule_folder_prefixes(manifest: Manifest) -> list[str]:
    problems = []
    for node in models(manifest).values():
        prefixes = FOLDER_PREFIXES.get(folder(node))
        if prefixes is None:
            problems.append(
                f"{node['name']} is in models/{folder(node)}/, not staging/intermediate/marts"
            )
        elif not node["name"].startswith(prefixes):
            problems.append(
                f"{node['name']} in {folder(node)}/ should start with {' or '.join(prefixes)}"
            )
    return problems


def rule_everything_documented(manifest: Manifest) -> list[str]:
    problems = []
    for node in models(manifest).values():
        if not node["description"].strip():
            problems.append(f"{node['name']} has no description")
        if not node["columns"]:
            problems.append(f"{node['name']} documents no columns")
        for column in node["columns"].values():
            if not column["description"].strip():
                problems.append(f"{node['name']}.{column['name']} has no description")
    return problems


def rule_pii_tagged(manifest: Manifest) -> list[str]:
    return [
        f"{node['name']}.{column['name']} holds personal data: tag it pii"
        for node in models(manifest).values()
        for column in node["columns"].values()
        if column["name"] in PII_COLUMNS
        and "pii" not in set(column.get("tags", [])) | set(column.get("config", {}).get("tags", []))
    ]


def rule_primary_key_tested(manifest: Manifest) -> list[str]:
    tested: dict[tuple[str, str], set[str]] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "test" or not node.get("test_metadata"):
            continue
        model, metadata = node.get("attached_node") or "", node["test_metadata"]
        if metadata["name"] == "not_null_columns":
            # the model's columns that are never null, in one test (macros/airflow_audit_data_tests.sql)
            for column in metadata["kwargs"]["column_names"]:
                tested.setdefault((model, column), set()).add("not_null")
            continue
        tested.setdefault((model, node.get("column_name") or ""), set()).add(metadata["name"])
    return [
        f"{node['name']} has no column tested both unique and not_null"
        for uid, node in models(manifest).items()
        # bookkeeping the project's macros keep, no data (declared in the model's meta), has no key
        if not (node.get("config", {}).get("meta") or {}).get("airflow_audit_bookkeeping")
        and not any(
            {"unique", "not_null"} <= names for (model, _), names in tested.items() if model == uid
        )
    ]


def rule_no_rejoining_of_upstream_concepts(manifest: Manifest) -> list[str]:
    child_map: dict[str, list[str]] = manifest["child_map"]
    all_models = models(manifest)
    problems = []
    for uid, node in all_models.items():
        direct = set(parents(node))
        for middle in direct:
            if middle not in all_models:
                continue
            model_children = [c for c in child_map.get(middle, []) if c.startswith("model.")]
            if model_children != [uid]:
                continue
            for upstream in direct & set(parents(all_models[middle])):
                problems.append(
                    f"{node['name']} reads {upstream.split('.')[-1]} both directly and through "
                    f"{middle.split('.')[-1]}, which nothing else uses: fold one into the other"
                )
    return problems


def without_jinja_and_comments(sql: str) -> str:
    sql = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", " ", sql, flags=re.S)
    sql = re.sub(r"--[^\n]*", " ", sql)
    return re.sub(r"'(?:[^']|'')*'", "''", sql)


def rule_no_hard_coded_relations(manifest: Manifest) -> list[str]:
    pattern = re.compile(r"\b(?:from|join)\s+(\"?[\w-]+\"?\s*\.\s*)+\"?[\w-]+\"?", re.I)
    return [
        f"{node['name']} names a relation directly ({match.group(0).strip()}): use ref() or source()"
        for node in models(manifest).values()
        for match in pattern.finditer(without_jinja_and_comments(node["raw_code"]))
    ]


# Macros that write SQL for DuckDB only, and hand every other warehouse its SQL unchanged.
DUCKDB_ONLY_MACROS = {"airflow_audit_touched_once"}


def portable_macros(manifest: Manifest) -> dict[str, dict]:
    """The project's macros whose SQL every warehouse runs: not one adapter's variant (duckdb__x),
    nor a default variant that BigQuery has its own of (default__x beside bigquery__x serves
    Snowflake, Redshift and PostgreSQL), nor DUCKDB_ONLY_MACROS."""
    own = {m["name"]: m for m in manifest["macros"].values() if m["package_name"] == PROJECT}
    portable = {}
    for name, macro in own.items():
        adapter, _, dispatched = name.partition("__")
        if dispatched and (adapter != "default" or f"bigquery__{dispatched}" in own):
            continue
        if name not in DUCKDB_ONLY_MACROS:
            portable[name] = macro
    return portable


def rule_portable_sql(manifest: Manifest) -> list[str]:
    """Models and macros: the incremental marts' SQL is written by macros, and runs only in a
    partial build, which no offline compile (tests/load/test_warehouses.py) reaches."""
    problems = []
    code = [(node["name"], node["raw_code"]) for node in models(manifest).values()]
    code += [(f"macro {m['name']}", m["macro_sql"]) for m in portable_macros(manifest).values()]
    for name, raw in code:
        sql = without_jinja_and_comments(raw).lower()
        for pattern, what in NON_PORTABLE_SQL.items():
            if re.search(pattern, sql):
                problems.append(f"{name} uses {what}")
    return problems


RULES: list[Callable[[Manifest], list[str]]] = [
    rule_only_staging_reads_sources,
    rule_staging_reads_one_source_and_no_model,
    rule_each_source_has_one_staging_model,
    rule_sources_have_freshness,
    rule_folder_prefixes,
    rule_everything_documented,
    rule_pii_tagged,
    rule_primary_key_tested,
    rule_no_rejoining_of_upstream_concepts,
    rule_no_hard_coded_relations,
    rule_portable_sql,
]


# ---------------------------------------------------------------------------------------------------------
# The project's manifest
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    target = tmp_path_factory.mktemp("dbt-target")
    parsed = meltano(
        "invoke",
        "dbt-duckdb:parse",
        env={
            # the plugin's settings, and dbt's own variables for a definition without them
            "DBT_DUCKDB_TARGET_PATH": str(target),
            "DBT_DUCKDB_LOG_PATH": str(target / "logs"),
            "DBT_TARGET_PATH": str(target),
            "DBT_LOG_PATH": str(target / "logs"),
        },
    )
    assert parsed.returncode == 0, parsed.stderr[-4000:]
    return json.loads((target / "manifest.json").read_text())


def test_the_manifest_holds_the_project(manifest: Manifest) -> None:
    names = {node["name"] for node in models(manifest).values()}
    assert {"stg_airflow__logs", "fct_task_attempts", "dim_dags", "rpt_dag_daily_health"} <= names
    assert len(manifest["sources"]) >= 25


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_the_project_follows_the_rule(
    manifest: Manifest, rule: Callable[[Manifest], list[str]]
) -> None:
    assert rule(manifest) == []


# ---------------------------------------------------------------------------------------------------------
# Proof that each rule detects what it is about: the real manifest with one violation planted.
# ---------------------------------------------------------------------------------------------------------


def node_named(manifest: Manifest, name: str) -> dict:
    return next(node for node in models(manifest).values() if node["name"] == name)


def plant_source_in_mart(m: Manifest) -> None:
    parents(node_named(m, "fct_dag_runs")).append("source.airflow_audit.airflow.dag_run")


def plant_join_in_staging(m: Manifest) -> None:
    parents(node_named(m, "stg_airflow__dag_runs")).append("model.airflow_audit.stg_airflow__dags")


def plant_second_reader_of_a_source(m: Manifest) -> None:
    parents(node_named(m, "stg_airflow__dags")).append("source.airflow_audit.airflow.log")


def plant_source_without_freshness(m: Manifest) -> None:
    m["sources"]["source.airflow_audit.airflow.ab_role"]["freshness"] = {
        "warn_after": {"count": None, "period": None},
        "error_after": {"count": None, "period": None},
    }


def plant_bad_name(m: Manifest) -> None:
    node_named(m, "dim_dags")["name"] = "dags_overview"


def plant_undocumented_column(m: Manifest) -> None:
    node_named(m, "fct_audit_events")["columns"]["event"]["description"] = " "


def plant_untagged_pii(m: Manifest) -> None:
    column = node_named(m, "dim_users")["columns"]["email"]
    column["tags"], column["config"]["tags"] = [], []


def plant_untested_key(m: Manifest) -> None:
    # the key keeps its `unique` test and leaves the model's not_null_columns
    uid = next(uid for uid, node in models(m).items() if node["name"] == "fct_import_errors")
    for node in m["nodes"].values():
        if (
            node["resource_type"] == "test"
            and node.get("attached_node") == uid
            and node["test_metadata"]["name"] == "not_null_columns"
        ):
            node["test_metadata"]["kwargs"]["column_names"].remove("import_error_id")


def plant_rejoin(m: Manifest) -> None:
    # fct_import_errors -> rpt_dag_daily_health, and stg_airflow__import_errors -> both
    mart = "model.airflow_audit.fct_import_errors"
    report = "model.airflow_audit.rpt_dag_daily_health"
    staging = "model.airflow_audit.stg_airflow__import_errors"
    m["child_map"][mart] = [report]
    parents(node_named(m, "rpt_dag_daily_health")).extend([mart, staging])


def plant_hard_coded_relation(m: Manifest) -> None:
    node_named(m, "fct_sla_misses")["raw_code"] += '\nselect * from "airflow-local".sla_miss'


def plant_non_portable_sql(m: Manifest) -> None:
    node_named(m, "rpt_dag_daily_health")["raw_code"] += "\nselect quantile_cont(x, 0.5) from t"


def test_the_portable_sql_rule_reads_the_macros(manifest: Manifest) -> None:
    broken = deepcopy(manifest)
    (macro,) = [
        m for m in broken["macros"].values() if m["name"] == "airflow_audit_touched_dag_work"
    ]
    macro["macro_sql"] = macro["macro_sql"].replace(
        "{{ airflow_audit_distinct_set_operator('union') }}", "union"
    )
    assert rule_portable_sql(broken) == [
        "macro airflow_audit_touched_dag_work uses " + NON_PORTABLE_SQL[r"\bunion\b(?!\s+all\b)"]
    ]


PLANTED = {
    rule_only_staging_reads_sources: plant_source_in_mart,
    rule_staging_reads_one_source_and_no_model: plant_join_in_staging,
    rule_each_source_has_one_staging_model: plant_second_reader_of_a_source,
    rule_sources_have_freshness: plant_source_without_freshness,
    rule_folder_prefixes: plant_bad_name,
    rule_everything_documented: plant_undocumented_column,
    rule_pii_tagged: plant_untagged_pii,
    rule_primary_key_tested: plant_untested_key,
    rule_no_rejoining_of_upstream_concepts: plant_rejoin,
    rule_no_hard_coded_relations: plant_hard_coded_relation,
    rule_portable_sql: plant_non_portable_sql,
}


def test_every_rule_has_a_planted_violation() -> None:
    assert set(PLANTED) == set(RULES)


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_the_rule_detects_a_planted_violation(
    manifest: Manifest, rule: Callable[[Manifest], list[str]]
) -> None:
    broken = deepcopy(manifest)
    PLANTED[rule](broken)
    assert len(rule(broken)) == 1, rule(broken)


# ---------------------------------------------------------------------------------------------------------
# sqlfluff
# ---------------------------------------------------------------------------------------------------------

SQLFLUFF = ROOT / ".meltano/utilities/sqlfluff/venv/bin/sqlfluff"
MAX_LINE = 120


def test_model_source_lines_fit_the_house_width() -> None:
    """LT05 is left to this test: dbt's own macros compile to long lines the models do not hold."""
    long_lines = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / "transform/models").rglob("*.sql")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if len(line) > MAX_LINE
    ]
    assert long_lines == []


@pytest.mark.integration
def test_sqlfluff_flags_sql_against_the_house_style(tmp_path: Path) -> None:
    """The house rules (.sqlfluff), on a planted violation (no dbt: the jinja templater)."""
    bad = tmp_path / "bad.sql"
    bad.write_text("SELECT\n    A.x\n    , COUNT(*) AS n\nFROM dags A\nGROUP BY 1\n")
    linted = subprocess.run(
        [
            *(str(SQLFLUFF), "lint", "--config", str(ROOT / ".sqlfluff"), "--templater", "jinja"),
            *("--format", "json", str(bad)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    codes = {v["code"] for f in json.loads(linted.stdout) for v in f["violations"]}
    # uppercase keywords, leading comma, implicit table alias
    assert {"CP01", "LT04", "AL01"} <= codes, linted.stdout[-3000:] + linted.stderr[-2000:]


# ---------------------------------------------------------------------------------------------------------
# The dispatched percentile: each warehouse's variant is SQL of that warehouse
# ---------------------------------------------------------------------------------------------------------

PERCENTILE_VARIANT = {
    "duckdb": "duckdb__airflow_audit_percentile",
    "snowflake": "default__airflow_audit_percentile",
    "redshift": "default__airflow_audit_percentile",
    "postgres": "default__airflow_audit_percentile",
    "bigquery": "bigquery__airflow_audit_percentile",
}


@pytest.mark.parametrize("dialect", PERCENTILE_VARIANT)
def test_the_percentile_macro_gives_each_warehouse_its_own_aggregate(dialect: str) -> None:
    import jinja2
    import sqlglot

    source = (ROOT / "transform" / "macros" / "airflow_audit_percentile.sql").read_text()
    variant = getattr(jinja2.Environment().from_string(source).module, PERCENTILE_VARIANT[dialect])
    expression = str(variant("case when state = 'success' then duration_s end", 0.95)).strip()
    sql = f"select dag_id, count(*) as n, {expression} as p95 from runs group by dag_id"
    parsed = sqlglot.parse_one(sql, read=dialect, error_level=sqlglot.ErrorLevel.RAISE)
    assert parsed.find(sqlglot.exp.Group) is not None
    # an aggregate next to count(*), never a window function
    assert " over " not in expression.lower()
