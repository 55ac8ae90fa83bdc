"""The dashboard's single page: inline CSS and a small script, no external resources, no data inside.

Every value is written with ``textContent`` (never ``innerHTML``), so device names cannot inject markup.
"""

from __future__ import annotations

import html
import json

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
:root { --fg:#1d2433; --muted:#5b6475; --line:#dde2ea; --bg:#f6f8fb; --accent:#1f6feb; }
* { box-sizing:border-box; }
body { margin:0; font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans","DejaVu Sans",
       "Liberation Sans",sans-serif; color:var(--fg); background:var(--bg); }
header { background:#12203a; color:#fff; padding:14px 24px; display:flex; gap:24px; align-items:baseline; }
header h1 { margin:0; font-size:20px; } #status { color:#c4cde0; } #status.bad { color:#ffb4a8; }
main { padding:16px 24px; display:grid; gap:14px; grid-template-columns:repeat(auto-fill,minmax(420px,1fr)); }
.kpis { grid-column:1/-1; display:grid; gap:12px; grid-template-columns:repeat(auto-fill,minmax(180px,1fr)); }
.kpi, section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:12px 16px; }
.kpi b { display:block; font-size:24px; font-variant-numeric:tabular-nums; } .kpi span { color:var(--muted); }
h2 { margin:0 0 8px; font-size:16px; }
table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; }
th, td { border-bottom:1px solid var(--line); padding:3px 8px; text-align:left; }
th { background:#f0f3f8; } td.num, th.num { text-align:right; }
.bar { height:10px; background:#e6ebf2; border-radius:5px; overflow:hidden; margin:6px 0; }
.bar div { height:100%; background:var(--accent); width:0; }
svg.spark { width:100%; height:70px; background:#fbfcfe; border:1px solid var(--line); border-radius:4px; }
.who { margin:4px 0; font-size:12px; overflow-wrap:anywhere; }
.muted { color:var(--muted); } form { grid-column:1/-1; } input { width:320px; padding:4px; }
</style></head>
<body>
<header><h1>__TITLE__</h1><span id="status">connecting…</span></header>
<main>
<form id="login" hidden><section><h2>Admin token</h2><p class="muted">The dashboard reads the admin API; paste its
token (kept in this tab only).</p><input id="token" type="password" autocomplete="off"> <button>Show</button>
</section></form>
<div class="kpis">
<div class="kpi"><b id="k-devices">–</b><span>devices enrolled (<span id="k-active">–</span> active,
<span id="k-online">–</span> online)</span></div>
<div class="kpi"><b id="k-round">–</b><span>open round: reported / asked</span></div>
<div class="kpi"><b id="k-req">–</b><span>requests / s (<span id="k-req-total">–</span> in all)</span></div>
<div class="kpi"><b id="k-load">–</b><span>cloud inference rows / s (<span id="k-load-total">–</span> in all)</span>
</div>
<div class="kpi"><b id="k-in">–</b><span>bytes in (<span id="k-in-rate">–</span>/s)</span></div>
<div class="kpi"><b id="k-out">–</b><span>bytes out (<span id="k-out-rate">–</span>/s)</span></div>
</div>
<section><h2>Devices by tier and status</h2><table id="t-devices"></table></section>
<section><h2>Open federated round</h2><div id="round" class="muted">no open round</div>
<div class="bar"><div id="round-bar"></div></div><div id="round-deadline" class="muted"></div>
<p class="who"><b>reported</b> <span id="round-reported" class="muted">–</span></p>
<p class="who"><b>waiting</b> <span id="round-waiting" class="muted">–</span></p></section>
<section><h2>Current model versions</h2><table id="t-models"></table></section>
<section><h2>Request rate and bytes, last polls</h2>
<svg class="spark" id="s-req" viewBox="0 0 300 70" preserveAspectRatio="none"></svg>
<div class="muted">requests / s</div>
<svg class="spark" id="s-bytes" viewBox="0 0 300 70" preserveAspectRatio="none"></svg>
<div class="muted">bytes in (blue) and out (orange) / s</div></section>
<section><h2>Recent errors</h2><table id="t-errors"></table></section>
</main>
<script>
"use strict";
const DATA_URL = __DATA_URL__, REFRESH_MS = __REFRESH_MS__, KEEP = 60;
const hist = {req: [], bin: [], bout: []};
const $ = id => document.getElementById(id);
const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromHash) { sessionStorage.setItem("tandem-token", fromHash); history.replaceState(null, "", location.pathname); }
function bytes(n) { const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0;
  while (Math.abs(n) >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n.toFixed(0)) + " " + u[i]; }
function num(x) { return x >= 100 ? Math.round(x).toLocaleString("en") : x.toFixed(1); }
function when(t) { return new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC"; }
function table(id, head, rows, numeric) {
  const t = $(id); t.replaceChildren();
  const tr = t.insertRow(); head.forEach((h, i) => { const th = document.createElement("th");
    th.textContent = h; if (numeric[i]) th.className = "num"; tr.appendChild(th); });
  if (!rows.length) { const c = t.insertRow().insertCell(); c.colSpan = head.length; c.textContent = "none";
    c.className = "muted"; }
  rows.forEach(r => { const row = t.insertRow(); r.forEach((v, i) => { const c = row.insertCell();
    c.textContent = v; if (numeric[i]) c.className = "num"; }); });
}
function spark(id, series, colours) {
  const svg = $(id); svg.replaceChildren();
  const top = Math.max(1e-9, ...series.flat());
  series.forEach((s, k) => { if (s.length < 2) return;
    const p = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    const xy = s.map((v, i) => (i * 300 / (s.length - 1)).toFixed(1) + "," + (66 - v / top * 62).toFixed(1));
    p.setAttribute("points", xy.join(" "));
    p.setAttribute("fill", "none"); p.setAttribute("stroke", colours[k]); p.setAttribute("stroke-width", "2");
    svg.appendChild(p); });
}
function push(a, v) { a.push(v); if (a.length > KEEP) a.shift(); }
function show(d) {
  $("k-devices").textContent = d.devices_total.toLocaleString("en");
  $("k-active").textContent = d.devices_active.toLocaleString("en");
  $("k-req").textContent = num(d.rates.requests_per_s); $("k-load").textContent = num(d.rates.inference_rows_per_s);
  $("k-req-total").textContent = Math.round(d.requests_total).toLocaleString("en");
  $("k-load-total").textContent = Math.round(d.inference_rows_total).toLocaleString("en");
  $("k-in").textContent = bytes(d.bytes_in_total); $("k-out").textContent = bytes(d.bytes_out_total);
  $("k-in-rate").textContent = bytes(d.rates.bytes_in_per_s);
  $("k-out-rate").textContent = bytes(d.rates.bytes_out_per_s);
  $("k-online").textContent = d.devices_online.toLocaleString("en");
  const statuses = [...new Set(Object.values(d.devices).flatMap(Object.keys))].sort();
  const on = d.online_window_s ? ["online (" + Math.round(d.online_window_s) + " s)"] : [];
  table("t-devices", ["tier", ...statuses, "total", ...on], Object.entries(d.devices).map(([tier, by]) =>
    [tier, ...statuses.map(s => (by[s] || 0).toLocaleString("en")),
     Object.values(by).reduce((a, b) => a + b, 0).toLocaleString("en"),
     ...on.map(() => (d.online[tier] || 0).toLocaleString("en"))]),
    [0, ...statuses.map(() => 1), 1, ...on.map(() => 1)]);
  table("t-models", ["model", "version", "size", "registered"],
    d.models.map(m => [m.model_id, "v" + m.version, bytes(m.n_bytes), m.created_at ? when(m.created_at) : "–"]),
    [0, 1, 1, 0]);
  const r = d.open_round;
  $("k-round").textContent = r ? r.reported + " / " + r.selected : "–";
  $("round").textContent = r ? "round " + r.round + " · " + r.model_id + " · " + r.strategy + " · " + r.reported +
    " of " + r.selected + " devices reported" : "no open round";
  $("round-bar").style.width = r && r.selected ? (100 * r.reported / r.selected).toFixed(1) + "%" : "0";
  $("round-deadline").textContent = r ? "deadline " + when(r.deadline) + " (in " +
    Math.max(0, Math.round(r.deadline - d.at)) + " s)" : "";
  const who = (names, n) => !r ? "–" : !n ? "none" : names.join(", ") + (n > names.length ? " … (" +
    (n - names.length).toLocaleString("en") + " more)" : "");
  $("round-reported").textContent = who(r ? r.reported_devices : [], r ? r.reported : 0);
  $("round-waiting").textContent = who(r ? r.waiting_devices : [], r ? r.selected - r.reported : 0);
  table("t-errors", ["time", "code", "message"], d.errors.slice(0, 20).map(e => [when(e.at), e.code, e.message]),
    [0, 0, 0]);
  push(hist.req, d.rates.requests_per_s); push(hist.bin, d.rates.bytes_in_per_s);
  push(hist.bout, d.rates.bytes_out_per_s);
  spark("s-req", [hist.req], ["#1f6feb"]); spark("s-bytes", [hist.bin, hist.bout], ["#1f6feb", "#f08c00"]);
}
async function poll() {
  const token = sessionStorage.getItem("tandem-token");
  if (!token) { $("login").hidden = false; $("status").textContent = "admin token needed"; return; }
  try {
    const res = await fetch(DATA_URL, {headers: {Authorization: "Bearer " + token}, cache: "no-store"});
    if (res.status === 401 || res.status === 403) {
      sessionStorage.removeItem("tandem-token"); $("login").hidden = false; }
    if (!res.ok) throw new Error("HTTP " + res.status);
    const d = await res.json(); show(d);
    $("status").className = "";
    $("status").textContent = "updated " + when(d.at) + " · every " + REFRESH_MS / 1000 + " s";
  } catch (err) { $("status").className = "bad"; $("status").textContent = "not updated: " + err.message; }
}
$("login").addEventListener("submit", ev => { ev.preventDefault();
  sessionStorage.setItem("tandem-token", $("token").value.trim()); $("login").hidden = true; poll(); });
poll(); setInterval(poll, REFRESH_MS);
</script>
</body></html>
"""


def render_page(title: str, data_url: str, refresh_s: float) -> str:
    """The page for a dashboard whose JSON lives at ``data_url`` and is polled every ``refresh_s`` seconds."""
    return (
        PAGE.replace("__TITLE__", html.escape(title))
        .replace("__DATA_URL__", json.dumps(data_url).replace("<", "\\u003c"))
        .replace("__REFRESH_MS__", str(int(refresh_s * 1000)))
    )
