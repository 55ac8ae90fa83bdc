"""tandem.report: result files, tables, the HTML report and the live fleet dashboard.

* :mod:`~tandem.report.results` — the result JSON schema (``RunResult``, ``write_result``, ``read_result``).
* :mod:`~tandem.report.table` — terminal tables of a run's stages.
* :mod:`~tandem.report.html` — ``write_report(paths, out)``: one self-contained HTML page (``tandem report``).
* :mod:`~tandem.report.pareto` — ``pareto_front(points, maximize)``.
* :mod:`~tandem.report.tiers` — ``tier_rows(...)``: per-device-tier breakdowns for ``RunResult.tiers``.
* :mod:`~tandem.report.dashboard` — ``dashboard_router(provider, auth=...)``: the server's ``/dashboard``.

Nothing is imported here, so ``import tandem.report.results`` stays light (no matplotlib).
"""
