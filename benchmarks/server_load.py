"""Load test of a real tandem server on loopback: concurrent devices sending inference requests and updates.

Starts ``tandem serve`` (SQLite WAL, demo task) on a free 127.0.0.1 port, enrolls ``--devices`` devices,
opens a federated round for all of them, then runs every device concurrently (one asyncio task per device,
one connection each): ``--infer`` inference requests of ``--rows`` rows, then one update submission.
Prints requests/s, p50/p99 latency and errors for each kind. Bounded: the request count is fixed and the
run stops by itself (``--timeout``). Run: ``python benchmarks/server_load.py --devices 100``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.server.procs import ADMIN, ServerProcess  # noqa: E402

from tandem.core.envelope import decode_state, encode_state  # noqa: E402
from tandem.federated.strategy import ClientResult  # noqa: E402
from tandem.federated.wire import encode_result  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summary(name: str, latencies: list[float], errors: int, wall: float) -> str:
    lat = np.array(latencies) * 1000
    p50, p99 = (np.percentile(lat, 50), np.percentile(lat, 99)) if len(lat) else (float("nan"),) * 2
    rate = len(lat) / wall
    return f"{name:<8} {len(lat):>6} ok {errors:>4} errors  {rate:8.1f} req/s  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms"


async def device(client, token, x, update, n_infer, stats) -> None:
    head = {"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"}
    body = encode_state({"x": x})
    for _ in range(n_infer):
        t = time.perf_counter()
        try:
            r = await client.post("/v1/infer", content=body, headers=head)
            ok = r.status_code == 200 and decode_state(r.content)[0]["logits"].shape[0] == x.shape[0]
        except httpx.HTTPError:
            ok = False
        stats["infer"].append(time.perf_counter() - t) if ok else stats["infer_err"].append(1)
    payload, meta = update
    t = time.perf_counter()
    try:
        r = await client.post("/v1/mailbox", params={"kind": "update"}, content=payload,
                              headers={**head, "X-Tandem-Meta": json.dumps(meta)})  # fmt: skip
        ok = r.status_code == 200
    except httpx.HTTPError:
        ok = False
    stats["update"].append(time.perf_counter() - t) if ok else stats["update_err"].append(1)


async def run(url: str, tokens: dict[int, str], args, base: dict, rnd: int) -> tuple[dict, float]:
    stats = {"infer": [], "infer_err": [], "update": [], "update_err": []}
    rng = np.random.default_rng(0)
    limits = httpx.Limits(max_connections=args.devices, max_keepalive_connections=args.devices)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        tasks = []
        for d, token in tokens.items():
            x = torch.from_numpy(rng.standard_normal((args.rows, 32)).astype(np.float32))
            params = {k: v + 0.001 for k, v in base.items()}
            _, payload, meta = encode_result(rnd, ClientResult(d, 20, params)).to_wire()
            tasks.append(device(client, token, x, (payload, meta), args.infer, stats))
        start = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*tasks), args.timeout)
        return stats, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--infer", type=int, default=10, help="inference requests per device")
    parser.add_argument("--rows", type=int, default=8, help="rows per inference request")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--db", default=None, help="database URL (default: SQLite in a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(args.db or f"sqlite:///{tmp}/load.db", None, Path(tmp) / "server.log").start()
        try:
            api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)
            tokens = {}
            for i in range(args.devices):
                body = api.post("/v1/devices", json={"name": f"load-{i}"}).json()
                tokens[body["device_id"]] = body["token"]
            body = {"model_id": "small", "deadline_s": 600, "close_when_complete": False}
            rnd = api.post("/v1/admin/rounds", json=body).json()["round"]
            latest = api.get("/v1/admin/models").json()[0]["version"]
            base = decode_state(api.get(f"/v1/admin/models/small/versions/{latest}/state").content)[0]
            cpu0, me0 = cpu_seconds(server.proc.pid), cpu_seconds(os.getpid())
            stats, wall = asyncio.run(run(server.url, tokens, args, base, rnd))
            server_cpu, client_cpu = cpu_seconds(server.proc.pid) - cpu0, cpu_seconds(os.getpid()) - me0
            stored = len(api.get(f"/v1/admin/rounds/{rnd}").json()["received"])
            metrics = api.get("/metrics").text
        finally:
            server.stop()
    batches = next((float(line.split()[-1]) for line in metrics.splitlines()
                    if line.startswith("tandem_inference_batches ")), float("nan"))  # fmt: skip
    database = "SQLite WAL (synchronous=FULL)" if args.db is None else args.db.split("://")[0]
    print(f"server_load: {args.devices} concurrent devices, {args.infer} x {args.rows}-row inference requests + "
          f"1 update each, loopback, {database}, one server process")  # fmt: skip
    print(summary("infer", stats["infer"], len(stats["infer_err"]), wall))
    print(summary("update", stats["update"], len(stats["update_err"]), wall))
    total = len(stats["infer"]) + len(stats["update"])
    print(f"all      {total:>6} requests in {wall:.2f} s = {total / wall:.1f} req/s; "
          f"updates stored {stored}/{args.devices}; inference rows {len(stats['infer']) * args.rows} "
          f"in {batches:.0f} batched forward passes")  # fmt: skip
    print(
        f"server   {server_cpu:.2f} CPU s for {total} requests = {1000 * server_cpu / total:.2f} ms CPU/request "
        f"; load generator {client_cpu:.2f} CPU s (same cores)"
    )
    errors = len(stats["infer_err"]) + len(stats["update_err"])
    sys.exit(1 if errors or stored != args.devices else 0)


if __name__ == "__main__":
    main()
