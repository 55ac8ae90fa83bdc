"""The report's one Jinja2 template: inline CSS, no scripts, no external resources."""

from __future__ import annotations

CSS = """
:root { --fg:#1d2433; --muted:#5b6475; --line:#dde2ea; --bg:#f6f8fb; --card:#fff; --accent:#1f6feb; --best:#e6f4ea; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans","DejaVu Sans",
       "Liberation Sans",sans-serif;
       color:var(--fg); background:var(--bg); }
header { background:#12203a; color:#fff; padding:18px 28px; }
header h1 { margin:0 0 4px; font-size:22px; } header p { margin:0; color:#c4cde0; }
nav { padding:8px 28px; background:#fff; border-bottom:1px solid var(--line); position:sticky; top:0; }
nav a { margin-right:16px; color:var(--accent); text-decoration:none; font-weight:600; }
main { padding:8px 28px 40px; max-width:1400px; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:14px 18px; margin:16px 0; }
h2 { margin:0 0 10px; font-size:18px; } h3 { margin:14px 0 6px; font-size:15px; }
p.note { color:var(--muted); margin:4px 0 10px; }
table { border-collapse:collapse; margin:6px 0 12px; font-variant-numeric:tabular-nums; }
th, td { border-bottom:1px solid var(--line); padding:4px 10px; text-align:left; vertical-align:top; }
table.stage-table td:nth-child(-n+2) { white-space:nowrap; }
table.stage-table :is(td, th):nth-child(n+3):not(:last-child) { text-align:right; white-space:nowrap; }
table.stage-table td:last-child { min-width:320px; color:var(--muted); }
th { background:#f0f3f8; font-weight:600; }
td.num, th.num { text-align:right; white-space:nowrap; }
td.best { background:var(--best); font-weight:600; }
tr.diff td { background:#fff6e0; }
.grid { display:grid; grid-template-columns:repeat(auto-fill,minmax(460px,1fr)); gap:14px; }
figure { margin:0; border:1px solid var(--line); border-radius:6px; padding:8px; background:#fff; }
figure svg { width:100%; height:auto; display:block; }
figcaption { color:var(--muted); font-size:12px; margin-top:4px; }
details > summary { cursor:pointer; font-weight:600; margin:6px 0; }
.scroll { overflow-x:auto; }
code { background:#f0f3f8; padding:0 4px; border-radius:3px; }
"""

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="tandem {{ version }}">
<title>{{ title }}</title>
<style>{{ css }}</style>
</head>
<body>
<header><h1>{{ title }}</h1>
<p>{{ runs|length }} run{{ "" if runs|length == 1 else "s" }}: {{ runs|map(attribute="label")|join(" · ") }}
 — generated {{ generated }} by tandem {{ version }}</p></header>
<nav><a href="#runs">Runs</a><a href="#axes">Four axes</a><a href="#config">Configuration</a>
<a href="#stages">Stages</a><a href="#curves">Learning curves</a><a href="#tradeoffs">Trade-offs</a>
<a href="#tiers">Device tiers</a></nav>
<main>
<section id="runs"><h2>Runs</h2><div class="scroll"><table>
<tr><th>run</th><th>kind</th><th>file</th><th>created</th><th class="num">wall clock</th><th class="num">rounds</th>
<th>tandem</th></tr>
{% for r in runs %}<tr><td><b>{{ r.label }}</b></td><td>{{ r.kind }}</td><td><code>{{ r.path }}</code></td>
<td>{{ r.created }}</td><td class="num">{{ r.wall }}</td><td class="num">{{ r.rounds }}</td>
<td>{{ r.version }}</td></tr>
{% endfor %}</table></div></section>

<section id="axes"><h2>The four axes, side by side</h2>
<p class="note">Final quality; bytes on the wire summed over stages (counted from encoded payloads); latency of the
slowest stage (— : not simulated); cloud cost summed over stages. The best value of each quality column is
highlighted; compare like with like (runs on different data or models are not comparable).</p>
<div class="scroll"><table id="axes-table">
<tr><th>run</th>{% for c in axes.columns %}<th class="num">{{ c }}</th>{% endfor %}</tr>
{% for row in axes.rows %}<tr><td><b>{{ row.label }}</b></td>{% for cell in row.cells %}
<td class="num{{ ' best' if cell.best }}" title="{{ cell.exact }}">{{ cell.text }}</td>{% endfor %}</tr>
{% endfor %}</table></div></section>

<section id="config"><h2>Configuration</h2>
<p class="note">{{ config.differing }} of {{ config.rows|length }} settings differ between the runs that have them
(— : the run has no such setting).</p>
{% if config.differing %}<div class="scroll"><table id="config-diff">
<tr><th>setting that differs</th>{% for r in runs %}<th>{{ r.label }}</th>{% endfor %}</tr>
{% for row in config.rows if row.differs %}<tr><td><code>{{ row.key }}</code></td>
{% for v in row.cells %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}
</table></div>{% endif %}
<details{{ " open" if config.rows|length <= 30 }}>
<summary>all {{ config.rows|length }} settings (differences highlighted)</summary>
<div class="scroll"><table>
<tr><th>setting</th>{% for r in runs %}<th>{{ r.label }}</th>{% endfor %}</tr>
{% for row in config.rows %}<tr{{ ' class="diff"'|safe if row.differs }}><td><code>{{ row.key }}</code></td>
{% for v in row.cells %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}
</table></div></details></section>

<section id="stages"><h2>Stages: quality, bytes, latency, cloud cost</h2>
{% for st in stages %}<h3>{{ st.label }}</h3><div class="scroll"><table class="stage-table">
<tr>{% for c in st.columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in st.rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>
{% endfor %}</tr>{% endfor %}</table></div>{% else %}<p class="note">No stages recorded.</p>{% endfor %}
</section>

<section id="curves"><h2>Learning curves per round</h2>
{% if curves %}<div class="grid">{% for f in curves %}<figure class="plot" id="{{ f.id }}">{{ f.svg }}
<figcaption>{{ f.caption }}</figcaption></figure>{% endfor %}</div>
{% else %}<p class="note">No per-round metrics in these results.</p>{% endif %}</section>

<section id="tradeoffs"><h2>Trade-offs and Pareto fronts</h2>
<p class="note">Each point is one round, stage or setting; the dashed line joins the Pareto front: the points that no
other point beats on both quality and cost (circled).</p>
{% for t in tradeoffs %}<h3>{{ t.title }}</h3>
{% if t.svg %}<div class="grid"><figure class="plot" id="{{ t.id }}">{{ t.svg }}<figcaption>{{ t.caption }}</figcaption>
</figure><div class="scroll"><table class="pareto-table"><tr><th>Pareto front: run</th><th>point</th>
<th class="num">{{ t.x_name }}</th><th class="num">{{ t.y_name }}</th></tr>
{% for p in t.front %}<tr><td>{{ p.series }}</td><td>{{ p.label }}</td><td class="num">{{ p.x }}</td>
<td class="num">{{ p.y }}</td></tr>{% endfor %}</table></div></div>
{% else %}<p class="note">{{ t.caption }}</p>{% endif %}{% endfor %}</section>

<section id="tiers"><h2>Per-device-tier breakdown</h2>
{% if tiers.tables %}<div class="grid">{% for f in tiers.figures %}<figure class="plot" id="{{ f.id }}">{{ f.svg }}
<figcaption>{{ f.caption }}</figcaption></figure>{% endfor %}</div>
{% for st in tiers.tables %}<h3>{{ st.label }}</h3><div class="scroll"><table class="tier-table">
<tr>{% for c in st.columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in st.rows %}<tr>{% for cell in row %}<td{{ ' class="num"'|safe if not loop.first }}>{{ cell }}</td>
{% endfor %}</tr>{% endfor %}</table></div>{% endfor %}
{% else %}<p class="note">None of these results records per-tier numbers (the optional <code>tiers</code> field;
see <code>tandem.report.tiers.tier_rows</code>).</p>{% endif %}</section>
</main>
</body>
</html>
"""
