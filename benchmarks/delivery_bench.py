"""Cloud -> device delivery for recommendation, every method side by side (issue 5's acceptance table).

Runs ``tandem delivery bench`` as a script; the same options apply::

    python benchmarks/delivery_bench.py                       # embedded synthetic default (minutes)
    python benchmarks/delivery_bench.py --dataset ml-100k     # ../shared/data/movielens-100k
    python benchmarks/delivery_bench.py --dataset beauty --cache-dir tandem-results/cache   # hours on 1 CPU core
    python benchmarks/delivery_bench.py --dataset beauty --max-train-minutes 45 --no-progress  # budgeted, logged

``--no-progress`` prints one line per training epoch and per measured method, and the result JSON is rewritten
after every stage, so a long run in the background can be followed and keeps what it measured if stopped.

Per method it prints HR@10 / NDCG@10 / NDCG@20 (leave-one-out, full ranking over all items, seen items
excluded: the S3-Rec protocol), parameters, FLOPs per request, bytes delivered per device (the payloads that
crossed the in-process transport) and ONNX Runtime p50/p95 latency of scoring 100 candidates on one thread,
and writes the result JSON (``tandem-results/delivery-<dataset>.json``). On Beauty the large SASRec is compared
with the published full-ranking SASRec (DuoRec, WSDM 2022 / ICLRec, WWW 2022; see ``PUBLISHED_BEAUTY`` in
``tandem.recipes.delivery.stages``).
"""

from __future__ import annotations

import typer

from tandem.recipes.delivery.cli import bench

if __name__ == "__main__":
    typer.run(bench)
