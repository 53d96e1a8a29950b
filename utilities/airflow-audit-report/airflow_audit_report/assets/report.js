// airflow-audit report: renders a page's sections from the marts' rows embedded in the page,
// and re-renders them when a filter changes. No network: Plotly is the site's own copy.
(function () {
  "use strict";
  const R = JSON.parse(document.getElementById("report-data").textContent);
  const state = { slug: "", dag: "", from: "", to: "", user: "", category: "" };
  const COLORS = { success: "#2e9d5b", failed: "#d64545", running: "#3b82f6", queued: "#e3a008" };

  function rows(name) {
    const out = [];
    for (const env of R.envs) {
      const d = env.data[name];
      if (!d) continue;
      for (const r of d.rows) {
        const o = { slug: env.slug };
        d.columns.forEach((c, i) => { o[c] = r[i]; });
        out.push(o);
      }
    }
    return out;
  }

  function filtered(name, dateField) {
    return rows(name).filter((r) => {
      if (state.slug && r.slug !== state.slug) return false;
      if (state.dag && "dag_id" in r && r.dag_id !== state.dag) return false;
      if (state.user && "actor" in r && r.actor !== state.user) return false;
      if (state.user && "username" in r && r.username !== state.user) return false;
      if (state.category && "event_category" in r && r.event_category !== state.category) return false;
      if (dateField) {
        const d = (r[dateField] || "").slice(0, 10);
        if (state.from && (!d || d < state.from)) return false;
        if (state.to && (!d || d > state.to)) return false;
      }
      return true;
    });
  }

  const fmt = {
    int: (v) => (v == null ? "" : Number(v).toLocaleString("en-US")),
    pct: (v) => (v == null ? "" : (100 * v).toFixed(1) + "%"),
    s: (v) => {
      if (v == null) return "";
      const n = Number(v);
      if (n < 120) return n.toFixed(1) + " s";
      if (n < 7200) return (n / 60).toFixed(1) + " min";
      return (n / 3600).toFixed(1) + " h";
    },
    growth: (v) => (v == null ? "" : (v > 0 ? "+" : "") + (100 * v).toFixed(0) + "%"),
    text: (v) => (v == null ? "" : Array.isArray(v) ? v.join(", ") : String(v)),
  };

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text != null) e.textContent = text;
    return e;
  }

  function empty(box, hint) {
    box.replaceChildren(el("p", { class: "empty" }, "Nothing yet: " + hint));
  }

  // A table: columns [[field, label, format]], sorted by `sort` (field, descending), top `limit`.
  function table(id, data, spec) {
    const box = document.getElementById(id);
    if (!data.length) return empty(box, spec.hint);
    let list = data.slice();
    if (spec.sort) list.sort((a, b) => (b[spec.sort] ?? -Infinity) - (a[spec.sort] ?? -Infinity) || 0);
    if (spec.limit) list = list.slice(0, spec.limit);
    const t = el("table");
    const head = el("tr");
    for (const [, label] of spec.columns) head.appendChild(el("th", {}, label));
    t.appendChild(el("thead")).appendChild(head);
    const body = el("tbody");
    for (const r of list) {
      const tr = el("tr");
      for (const [field, , f] of spec.columns) {
        const v = r[field];
        const cls = ["int", "pct", "s", "growth"].includes(f) ? "num" : "";
        const td = el("td", cls ? { class: cls } : {});
        if (f === "pill") td.appendChild(el("span", { class: "pill " + String(v) }, fmt.text(v)));
        else td.textContent = (fmt[f] || fmt.text)(v);
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    t.appendChild(body);
    box.replaceChildren(t);
    if (data.length > list.length) box.appendChild(el("p", { class: "empty" }, `${list.length} of ${data.length} shown.`));
  }

  // Tiles: [[label, value, format, class, figure-name]]
  function tiles(id, items) {
    const box = document.getElementById(id);
    box.replaceChildren();
    for (const [label, value, f, cls, figure] of items) {
      const t = el("div", { class: "tile " + (cls || "") });
      const v = el("div", { class: "v", "data-figure": figure || label }, value == null ? "–" : (fmt[f] || fmt.int)(value));
      t.appendChild(v);
      t.appendChild(el("div", { class: "l" }, label));
      box.appendChild(t);
    }
  }

  function chart(id, traces, layout, hint) {
    const box = document.getElementById(id);
    if (!traces.length || traces.every((t) => !(t.x || t.z || []).length)) {
      if (window.Plotly) Plotly.purge(box);
      return empty(box, hint);
    }
    box.replaceChildren();
    Plotly.react(box, traces, Object.assign({
      margin: { l: 56, r: 16, t: 8, b: 48 }, barmode: "stack", legend: { orientation: "h" },
      font: { family: "system-ui, sans-serif", size: 12 }, paper_bgcolor: "#fff", plot_bgcolor: "#fff",
    }, layout || {}), { displaylogo: false, responsive: true });
  }

  function sum(list, field) {
    return list.reduce((a, r) => a + (Number(r[field]) || 0), 0);
  }

  function groupSum(list, key, field) {
    const m = new Map();
    for (const r of list) m.set(r[key], (m.get(r[key]) || 0) + (Number(r[field]) || 0));
    return m;
  }

  function heatmap(id, list, field, hint, colorscale) {
    const dags = [...new Set(list.map((r) => r.dag_id))].sort();
    const days = [...new Set(list.map((r) => r.run_date))].sort();
    const idx = new Map(days.map((d, i) => [d, i]));
    const z = dags.map(() => days.map(() => 0));
    const di = new Map(dags.map((d, i) => [d, i]));
    for (const r of list) z[di.get(r.dag_id)][idx.get(r.run_date)] += Number(r[field]) || 0;
    const any = z.some((row) => row.some((v) => v > 0));
    const box = document.getElementById(id);
    box.style.height = Math.max(260, 22 * dags.length + 80) + "px";
    chart(id, any ? [{ type: "heatmap", x: days, y: dags, z, colorscale: colorscale || "Reds", hoverongaps: false }] : [],
      { margin: { l: 200, r: 16, t: 8, b: 48 } }, hint);
  }

  function context() {
    const box = document.getElementById("context");
    const envs = R.envs.filter((e) => !state.slug || e.slug === state.slug);
    if (!envs.length) { box.textContent = "No environment synced yet: run `meltano run airflow-audit`."; return; }
    box.replaceChildren();
    envs.forEach((e, i) => {
      const h = (e.data.synced && e.data.synced.rows[0]) || [];
      const s = el("span");
      s.append("Environment ", el("b", {}, e.slug), " · Airflow ", el("b", {}, h[1] || "unknown"),
        " · last synced ", el("b", {}, h[0] ? h[0] + " UTC" : "never"));
      if (i) box.append("  |  ");
      box.appendChild(s);
    });
  }

  function fillSelect(id, values) {
    const s = document.getElementById(id);
    if (!s) return;
    for (const v of [...new Set(values)].filter((v) => v != null && v !== "").sort()) s.appendChild(el("option", { value: v }, v));
  }

  window.AirflowAudit = { rows, filtered, table, tiles, chart, heatmap, sum, groupSum, fmt, COLORS, state };

  function init(render) {
    fillSelect("f-slug", R.envs.map((e) => e.slug));
    const dags = [];
    for (const env of R.envs) for (const [, d] of Object.entries(env.data)) {
      const i = d.columns.indexOf("dag_id");
      if (i >= 0) for (const r of d.rows) dags.push(r[i]);
    }
    fillSelect("f-dag", dags);
    for (const [id, key] of [["f-slug", "slug"], ["f-dag", "dag"], ["f-from", "from"], ["f-to", "to"], ["f-user", "user"], ["f-category", "category"]]) {
      const input = document.getElementById(id);
      if (input) input.addEventListener("change", () => { state[key] = input.value; context(); render(); });
    }
    context();
    render();
  }
  window.AirflowAudit.init = init;
  window.AirflowAudit.fillSelect = fillSelect;
})();
