"""The audit report: built from the marts, opened from file:// in headless Chromium.

On a full job's warehouse (every table, 2.10.5): `meltano invoke airflow-audit-report` builds the
site; Debian's Chromium, driven by Playwright, opens every page from file:// with no console error
and no request that is not a file of the site, and a screenshot of each page is taken. The figures
the pages show (runs by state, the failed attempts of the DAG that fails most, the number of
privileged users) equal the marts' values, computed here with SQL of their own on other marts than
the report reads; choosing a DAG in the filter shows that DAG's figures. On a synced but empty
Airflow database every page says there is nothing yet, without an error; with no warehouse at all
the command says so in one sentence.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.support import meltano
from tests.support.sync import dbt_paths, full_job

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration

PAGES = [
    "index.html",
    "failures.html",
    "slowest.html",
    "access.html",
    "alerts.html",
    "audit.html",
    "platform.html",
]
CHROMIUM = "/usr/bin/chromium"
# As the machine's probe runs it: no background connections (this machine's network is closed).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def build_report(warehouse: Path, output: Path, **env: str):
    return meltano(
        "invoke",
        "airflow-audit-report",
        "--output",
        str(output),
        env={"AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouse), **env},
    )


class Browser:
    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        if not Path(CHROMIUM).exists():
            pytest.fail("Chromium is missing: `make browser` installs Debian's chromium")
        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

    def open(self, path: Path, screenshot: Path | None = None):
        """The page, after load; with the console errors and the requests it made."""
        page = self.browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        requests: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)
        return page, errors, requests

    def close(self) -> None:
        self.browser.close()
        self._pw.stop()


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


@pytest.fixture(scope="module")
def report(airflow_db, tmp_path_factory) -> dict:
    job = full_job("2.10.5", airflow_db, tmp_path_factory)
    # a copy: other modules run the job again on the shared warehouse
    root = tmp_path_factory.mktemp("report")
    warehouse = root / "w.duckdb"
    shutil.copy(job["warehouse"], warehouse)
    done = build_report(warehouse, root / "site")
    assert done.returncode == 0, done.stderr[-4000:]
    return {"site": root / "site", "warehouse": warehouse, "root": root}


def figures(page) -> dict[str, str]:
    return dict(
        page.eval_on_selector_all(
            "[data-figure]", "els => els.map(e => [e.dataset.figure, e.textContent])"
        )
    )


def number(text: str) -> int:
    return int(text.replace(",", ""))


def test_every_page_opens_offline_without_an_error(report, browser):
    site = report["site"]
    assert sorted(p.name for p in site.glob("*.html")) == sorted(PAGES)
    for name in PAGES:
        shot = report["root"] / f"{name}.png"
        page, errors, requests = browser.open(site / name, shot)
        assert errors == [], f"{name}: {errors}"
        outside = [u for u in requests if not u.startswith(site.as_uri() + "/")]
        assert outside == [], f"{name} asked for {outside}"
        assert shot.stat().st_size > 20_000
        assert page.locator("#context").inner_text().startswith("Environment local")
        page.close()
    # every script and style is a file of the site
    for name in PAGES:
        html = (site / name).read_text()
        assert not re.search(r"(src|href)=\"(https?:)?//", html), name


def test_the_figures_equal_the_marts(report, browser):
    marts = '"airflow-local_marts"'
    with duckdb.connect(str(report["warehouse"]), read_only=True) as con:
        by_state = dict(
            con.execute(f"select state, count(*) from {marts}.fct_dag_runs group by 1").fetchall()
        )
        worst_dag, worst_failed = con.execute(
            f"select dag_id, count(*) from {marts}.fct_task_attempts where is_failed "
            "and coalesce(started_at, ended_at) is not null group by 1 order by 2 desc, 1 limit 1"
        ).fetchone()
        privileged = con.execute(
            f"select count(distinct username) from {marts}.rpt_privileged_users "
            "where not is_deleted_at_source"
        ).fetchone()[0]
        new_alerts, critical = con.execute(
            f"select count(*) filter (where is_new), count(*) filter (where severity = 'critical') "
            f"from {marts}.rpt_alerts"
        ).fetchone()
        pools = con.execute(
            f"select pool_name, max(peak_slots_used), sum(case when is_saturated then 1 else 0 end) "
            f"from {marts}.rpt_pool_hourly_usage group by 1 order by 1"
        ).fetchall()
        one_dag = con.execute(
            f"select dag_id, count(*) filter (where state = 'failed'), count(*) "
            f"from {marts}.fct_dag_runs group by 1 order by 2 desc, 1 limit 1"
        ).fetchone()
    assert privileged > 0 and worst_failed > 0 and by_state.get("failed")

    page, errors, _ = browser.open(report["site"] / "index.html")
    shown = figures(page)
    assert number(shown["runs_total"]) == sum(by_state.values())
    for state in ("success", "failed", "running", "queued"):
        assert number(shown[f"runs_{state}"]) == by_state.get(state, 0), state
    page.select_option("#f-dag", one_dag[0])
    shown = figures(page)
    assert (number(shown["runs_failed"]), number(shown["runs_total"])) == one_dag[1:]
    assert errors == []
    page.close()

    page, errors, _ = browser.open(report["site"] / "failures.html")
    assert number(figures(page)["worst_dag_failed_attempts"]) == worst_failed
    assert worst_dag in page.locator(".tile", has_text="most failing DAG").inner_text()
    page.close()

    page, errors, _ = browser.open(report["site"] / "access.html")
    assert number(figures(page)["privileged_users"]) == privileged
    assert errors == []
    page.close()

    assert len(pools) >= 3
    page, errors, _ = browser.open(report["site"] / "platform.html")
    rows = {
        cells[0]: cells[2:4]
        for cells in (
            [c.inner_text().strip() for c in row.locator("td").all()]
            for row in page.locator("#pools tr").all()
        )
        if cells
    }
    assert rows == {pool: [f"{peak:,}", f"{full:,}"] for pool, peak, full in pools}
    assert errors == []
    page.close()

    assert new_alerts > 0
    page, errors, _ = browser.open(report["site"] / "alerts.html")
    shown = figures(page)
    assert (number(shown["alerts_new"]), number(shown["alerts_critical"])) == (new_alerts, critical)
    assert errors == []
    page.close()


def test_an_empty_airflow_database_reports_nothing_yet_on_every_page(airflow_db, tmp_path, browser):
    url = airflow_db("2.10.5", "report_empty", filled=False)
    warehouse = tmp_path / "w.duckdb"
    env = {
        "AIRFLOW_AUDIT_SOURCE_URL": url,
        "AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouse),
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
        **dbt_paths(tmp_path),
    }
    done = meltano("run", "airflow-audit", env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    built = build_report(warehouse, tmp_path / "site")
    assert built.returncode == 0, built.stderr[-4000:]
    for name in PAGES:
        page, errors, _ = browser.open(tmp_path / "site" / name)
        assert errors == [], f"{name}: {errors}"
        empties = page.locator(".empty").all_inner_texts()
        assert empties and all(t.startswith("Nothing yet: ") for t in empties), name
        assert all(v in ("0", "–") for v in figures(page).values()), name
        page.close()


def test_no_warehouse_is_one_sentence(tmp_path):
    done = build_report(tmp_path / "absent.duckdb", tmp_path / "site")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    said = [ln for ln in done.stderr.splitlines() if "airflow-audit-report: " in ln]
    assert len(said) == 1 and "There is no warehouse at" in said[0]
    assert not (tmp_path / "site").exists()
