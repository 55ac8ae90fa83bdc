"""tandem vs a plain PyTorch loop vs Flower on five federated workloads, side by side in one run.

Run from anywhere::

    python benchmarks/fl/run_all.py                 # every workload, every runner, the table and the ratios
    python benchmarks/fl/run_all.py --only bank     # one workload (or: python benchmarks/fl/bank.py)
    python benchmarks/fl/run_all.py --json          # one JSON object instead of the table
    python benchmarks/fl/run_all.py --quick         # first rounds only, in this process, no live Flower (the test)

Workloads (``workloads.py``): (1) the peer reference (``shared/peers``), (2) its 1000-client config, (3) UCI
Bank Marketing MLP, (4) digits CNN, (5) MovieLens-100k GRU4Rec next item. Runners (``harness.py``): tandem
batched (``runtime="auto"``), tandem sequential, the plain PyTorch per-client loop and Flower's simulation
engine, live when ``flwr[simulation]`` is installed (``pip install -e ".[peers]"``). Each runner of each
workload runs in fresh processes (``--repeats`` of them, medians reported; Flower once) so that whole-process
time and the peak RSS of the process tree are measured as the peer measured Flower's. A workload whose data
set is absent is skipped, saying so. When Flower is not installed (or ``--no-flower``), its stored figure is
printed with its date and machine, marked "stored", and every ratio against it says so.

Torch runs one intra-op thread in every child: the tensors are small and the machine has 2 shared cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from typing import Any

from harness import VARIANTS, flower_installed, run_variant, spawn
from workloads import NAMES, TITLES, Skip, build

MACHINE = "the project's 2-core shared machine (Linux, Python 3.11, torch 2.13 CPU)"
#: Flower figures measured earlier, printed (marked stored) only when Flower cannot run live here.
FLOWER_STORED: dict[str, dict[str, Any]] = {
    "reference": {"run_s": [19.0, 19.6], "process_s": [22.5, 23.0], "peak_rss_mb": 1470, "date": "2026-12-04",
                  "machine": MACHINE, "source": "shared/DESIGN.md (Flower 1.41 simulation engine)"},
    "reference_large": {"run_s": [39.7, 48.2], "date": "2026-12-04", "machine": MACHINE,
                        "source": "shared/DESIGN.md (Flower 1.41 simulation engine)"},
}
TARGET_VS_FLOWER = {"reference": 100.0, "reference_large": 100.0, "bank": 20.0, "digits_cnn": 20.0, "movielens": 20.0}
TARGET_VS_PLAIN = 5.0
TARGET_PROCESS_VS_FLOWER = {"reference": 15.0}
TARGET_RSS_FRACTION = 0.25


def _median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def measure(name: str, *, quick: bool, repeats: int, flower_live: bool, log: Any) -> dict[str, Any]:
    """Every runner on workload ``name``; ``{variant: record}`` (medians over repeats) or a skip."""
    try:
        w = build(name, quick)  # here only to check the data and print what the workload is
    except Skip as exc:
        return {"name": name, "skipped": str(exc)}
    out: dict[str, Any] = {"name": name, "workload": w, "runs": {}}
    variants = [v for v in VARIANTS if v != "flower" or flower_live]
    for variant in variants:
        if quick:
            rec = run_variant(name, variant, quick)
            rec["process_s"] = None
            rec["peak_rss_mb"] = None
        else:
            n = 1 if variant == "flower" else repeats
            recs = [spawn(name, variant, quick) for _ in range(n)]
            good = [r for r in recs if "error" not in r]
            if not good:
                rec = recs[0]
            else:
                rec = dict(good[0])
                rec["run_s"] = _median([r["run_s"] for r in good])
                rec["process_s"] = _median([r["process_s"] for r in good])
                rec["peak_rss_mb"] = max(r["peak_rss_mb"] for r in good)
                rec["all_run_s"] = [round(r["run_s"], 4) for r in good]
                if len({json.dumps(r["curve"]) for r in good}) > 1:
                    rec["warning"] = "curves differ between repeats"
        out["runs"][variant] = rec
        log(f"  {name:16s} {variant:10s} " + (f"error: {rec['error']}" if "error" in rec else
                                                 f"{rec['metric']:.4f}  {rec['run_s']:.3f} s"))
    return out


def summarise(res: dict[str, Any], flower_live: bool) -> dict[str, Any]:
    """The JSON record of one workload (keys of the acceptance criteria first)."""
    name = res["name"]
    if "skipped" in res:
        return {"name": name, "skipped": res["skipped"], "metric": None, "tandem_s": None, "plain_s": None,
                "flower_s": None, "flower_live": False, "speedup_vs_flower": None, "speedup_vs_plain": None,
                "peak_rss_mb": None}
    runs, w = res["runs"], res["workload"]
    t, p, s = runs["tandem"], runs["plain"], runs["sequential"]
    f = runs.get("flower")
    live = f is not None and "error" not in f
    stored = FLOWER_STORED.get(name)
    flower_s = f["run_s"] if live else (min(stored["run_s"]) if stored else None)
    ok = "error" not in t and "error" not in p
    rec: dict[str, Any] = {
        "name": name,
        "metric": t.get("metric"),
        "tandem_s": t.get("run_s"),
        "plain_s": p.get("run_s"),
        "flower_s": flower_s,
        "flower_live": live,
        "speedup_vs_flower": flower_s / t["run_s"] if flower_s and "error" not in t else None,
        "speedup_vs_plain": p["run_s"] / t["run_s"] if ok else None,
        "peak_rss_mb": t.get("peak_rss_mb"),
        "metric_name": w.metric,
        "tandem_runtime": t.get("runtime"),
        "tandem_process_s": t.get("process_s"),
        "plain_metric": p.get("metric"),
        "plain_process_s": p.get("process_s"),
        "sequential_s": s.get("run_s"),
        "sequential_metric": s.get("metric"),
        "steps_total": w.step_counts()[0],
        "steps_critical": w.step_counts()[1],
        "tolerance": w.tolerance,
        "metric_within_tolerance": ok and abs(t["metric"] - p["metric"]) <= w.tolerance + 1e-9,
    }
    if live:
        rec.update(flower_metric=f["metric"], flower_process_s=f.get("process_s"),
                   flower_peak_rss_mb=f.get("peak_rss_mb"))
    elif stored:
        rec["flower_stored"] = {k: v for k, v in stored.items()}
    if f is not None and not live:
        rec["flower_error"] = f["error"]
    if not flower_live and not stored:
        rec["flower_note"] = "Flower not run live and no stored figure for this workload"
    return rec


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def print_table(res: dict[str, Any], rec: dict[str, Any], quick: bool) -> None:
    name = res["name"]
    print(f"\n{TITLES[name]}")
    if "skipped" in res:
        print(f"  SKIPPED: {res['skipped']}")
        return
    w = res["workload"]
    print(f"  {w.n_clients} clients ({w.notes.get('client_sizes', '')}), {w.rounds} rounds, lr {w.lr}, batch "
          f"{w.batch_size}, metric {w.metric} every {w.eval_every} round(s); tandem runtime {rec['tandem_runtime']}")
    total, critical = w.step_counts()
    print(f"  local SGD steps: {total} in all, {critical} on the critical path (each round's largest client): "
          f"batching clients alone can gain at most {total / max(critical, 1):.1f}x over a per-client loop")
    print(f"  {'runner':22s} {w.metric:>9s} {'run_s':>9s} {'process_s':>10s} {'peak_rss_mb':>12s}  runs")
    rows = [("tandem (batched)", "tandem"), ("tandem sequential", "sequential"), ("plain PyTorch loop", "plain")]
    if "flower" in res["runs"]:
        rows.append(("Flower (live)", "flower"))
    for label, key in rows:
        r = res["runs"][key]
        if "error" in r:
            print(f"  {label:22s} error: {r['error']}")
            continue
        print(f"  {label:22s} {_fmt(r['metric'], '9.4f')} {_fmt(r['run_s'], '9.3f')} {_fmt(r['process_s'], '10.2f')} "
              f"{_fmt(r['peak_rss_mb'], '12.0f')}  {r.get('all_run_s', '')} {r.get('warning', '')}")
    stored = rec.get("flower_stored")
    if stored:
        rng = stored["run_s"]
        print(f"  {'Flower (STORED)':22s} {'':9s} {f'{rng[0]}-{rng[1]}':>9s} "
              f"{'-'.join(map(str, stored.get('process_s', []))) or '-':>10s} {stored.get('peak_rss_mb', '-'):>12}"
              f"  stored figure, measured {stored['date']} on {stored['machine']}; {stored['source']}")
    elif not rec["flower_live"]:
        print(f"  {'Flower':22s} not run live here and no stored figure: no ratio")
    t = res["runs"]["tandem"]
    if "error" in t:
        return
    tag = "live" if rec["flower_live"] else "STORED figure (lower end)"
    parts = [f"run time vs plain loop {_fmt(rec['speedup_vs_plain'], '.1f')}x (target >= {TARGET_VS_PLAIN:.0f}x)"]
    if rec["speedup_vs_flower"] is not None:
        parts.append(f"vs Flower ({tag}) {rec['speedup_vs_flower']:.0f}x (target >= {TARGET_VS_FLOWER[name]:.0f}x)")
    vs_seq = rec["sequential_s"] / t["run_s"] if rec["sequential_s"] else None
    parts.append(f"vs tandem sequential {_fmt(vs_seq, '.1f')}x")
    print("  ratios: " + "; ".join(parts))
    if rec["flower_live"] and not quick:
        f = res["runs"]["flower"]
        print(f"          whole process vs Flower {f['process_s'] / t['process_s']:.1f}x"
              + (f" (target >= {TARGET_PROCESS_VS_FLOWER[name]:.0f}x)" if name in TARGET_PROCESS_VS_FLOWER else "")
              + f"; peak RSS tandem/Flower {t['peak_rss_mb'] / f['peak_rss_mb']:.2f} (target <= 0.25)")
    diff = abs(t["metric"] - res["runs"]["plain"]["metric"]) if "error" not in res["runs"]["plain"] else None
    print(f"  metric: |tandem - plain| = {_fmt(diff, '.4f')} (tolerance {w.tolerance}: {w.tolerance_why})"
          + ("" if rec["metric_within_tolerance"] else "  OUT OF TOLERANCE"))
    if w.notes.get("published_final_accuracy") is not None:
        print(f"  published final accuracy {w.notes['published_final_accuracy']} (shared/peers/workload.json)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", choices=NAMES, help="run these workloads only")
    ap.add_argument("--quick", action="store_true", help="first rounds only, in this process, no live Flower")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--repeats", type=int, default=3, help="fresh processes per tandem/plain runner (median)")
    ap.add_argument("--no-flower", action="store_true", help="do not run Flower live (its stored figure is shown)")
    ap.add_argument("--save", metavar="PATH", help="also write the JSON object to PATH")
    ap.add_argument("--child", nargs=2, metavar=("WORKLOAD", "VARIANT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(run_variant(args.child[0], args.child[1], args.quick)))
        return 0
    names = args.only or list(NAMES)
    flower_live = flower_installed() and not args.no_flower and not args.quick
    log = (lambda msg: print(msg, file=sys.stderr, flush=True)) if args.json else (lambda msg: None)
    if not args.json:
        load = os.getloadavg()[0]
        how = "quick" if args.quick else f"{args.repeats} fresh processes per runner, medians"
        why = "--quick" if args.quick else "--no-flower" if args.no_flower else "flwr[simulation] not installed"
        flower = "live" if flower_live else f"not live ({why})"
        print(f"federated suite: {', '.join(names)}; {how}; Flower {flower}; load average {load:.1f} on "
              f"{os.cpu_count()} CPUs")
    records = []
    for name in names:
        res = measure(name, quick=args.quick, repeats=args.repeats, flower_live=flower_live, log=log)
        rec = summarise(res, flower_live)
        records.append(rec)
        if not args.json:
            print_table(res, rec, args.quick)
            sys.stdout.flush()
    if args.json:
        print(json.dumps({"workloads": records}))
    if args.save:
        with open(args.save, "w") as fh:
            json.dump({"workloads": records}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
