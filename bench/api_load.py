"""Load on the vendor API: requests/s and p50/p99 latency of a table page, a two-month series and an OGC API -
Features page of cameras, each cached and on a first visit, against the trivial /health. The baseline and
the cached phases run in alternating rounds, each reported by its median round; a first visit runs once.

The API runs as it does under `anpr serve-api` (one uvicorn worker, access log on, structured logs to
a file) in its own process over a synthetic sample release; this process is the client, on loopback,
with keep-alive connections. Every phase is bounded in requests and in seconds. The client shares the
machine's cores with the server, so the figures are a floor for the server alone.

Usage: python -m bench.api_load            (run, print JSON)
       python -m bench.api_load publish LAKE / serve LAKE PORT   (the helper processes)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

KEY = "bench-key-0123456789abcdef"
CONNECTIONS = 8
MAX_REQUESTS = 6000
MAX_SECONDS = 12.0
ROUNDS = 3  # alternating rounds of the repeatable phases (_alternating)
ZONE = "344001"  # zoneId is the zone's NDW code (conf/municipalities/utrecht.toml ndw_code)
TABLE = "t4_1_uur_camera"
PAGE = f"/v1/tables/{TABLE}/rows?zoneId={ZONE}&limit=20"
MONTHS = ("2026-09", "2026-10")  # a series reads each month's current release
SERIES = f"/v1/tables/{TABLE}/series?measure=aantalPassages&from={MONTHS[0]}&to={MONTHS[-1]}&zoneId={ZONE}&uur=8"
OGC_CAMERAS = "/ogc/collections/cameras/items?limit=10"


def _places() -> list:  # noqa: ANN401 - anpr.zones.Municipality, imported late to keep the client light
    from api.vendor.sample import synthetic_municipality

    return [synthetic_municipality("GM0344", "Utrecht", 52.09, 5.12, cameras=8), synthetic_municipality()]


def publish(lake_path: str) -> None:
    from anpr.lake import Lake
    from anpr.settings import Settings, SparkSettings
    from anpr.spark import get_spark
    from api.vendor.sample import publish_sample

    settings = Settings(data_dir=Path(lake_path).parent / "data",
                        spark=SparkSettings(master="local[2]", shuffle_partitions=2, ui_enabled=False))
    spark = get_spark(settings)
    try:
        for month in MONTHS:
            publish_sample(spark, Lake(lake_path, spark), month, _places())
    finally:
        spark.stop()


def serve(lake_path: str, port: int) -> None:
    import uvicorn
    from pydantic import SecretStr

    from anpr.delta_reader import DeltaReader
    from anpr.logs import setup_logging
    from anpr.settings import Settings
    from api.common.protocols import PROTOCOLS
    from api.releases import ReleaseStore
    from api.vendor.contracts import parse_contracts
    from api.vendor.main import create_app

    settings = Settings(data_dir=Path(lake_path).parent / "data", vendor_keys={"bench": SecretStr(KEY)})
    setup_logging(settings.log_dir, rotation=settings.logs)
    contracts = parse_contracts('[vendors.bench]\nmunicipalities = ["GM0344", "GM0599"]\n'
                                "requests_per_minute = 100000000\nburst = 1000000\n")
    app = create_app(settings, ReleaseStore(DeltaReader(lake_path)), contracts=contracts, municipalities=_places())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning",
                http=PROTOCOLS["httptools"])  # as `anpr serve-api`


def _request(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *[f"{k}: {v}" for k, v in headers.items()]]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _worker(port: int, requests: Iterator[bytes], stop_at: float, latencies: list[float],
                  statuses: Counter[int], sizes: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for request in requests:
            if time.perf_counter() > stop_at:
                break
            started = time.perf_counter()
            writer.write(request)
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "transfer-encoding":
                    raise RuntimeError("chunked answers are not expected from this API")
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            statuses[status] += 1
            sizes.append(length)
    finally:
        writer.close()


async def _phase(port: int, requests: list[bytes], repeat: bool = True) -> dict[str, object]:
    shared = iter(itertools.islice(itertools.cycle(requests) if repeat else requests, MAX_REQUESTS))
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    sizes: list[int] = []
    started = time.perf_counter()
    await asyncio.gather(*[_worker(port, shared, started + MAX_SECONDS, latencies, statuses, sizes)
                           for _ in range(CONNECTIONS)])
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {"requests": len(latencies), "seconds": round(elapsed, 2),
            "requests_per_s": round(len(latencies) / elapsed), "p50_ms": round(statistics.median(ordered) * 1e3, 2),
            "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1e3, 2),
            "mean_body_bytes": round(sum(sizes) / len(sizes)), "statuses": dict(statuses)}


def _alternating(port: int, named: dict[str, list[bytes]]) -> dict[str, dict[str, object]]:
    """The repeatable phases (the /health baseline and the cached answers) in ROUNDS alternating rounds,
    each phase's median round kept (by requests/s): a baseline measured once, in one burst before the
    rest, moved its ratios by a third between runs on this machine (/health 4.6k to 6.8k requests/s)."""
    rounds: dict[str, list[dict[str, object]]] = {name: [] for name in named}
    for _ in range(ROUNDS):
        for name, requests in named.items():
            rounds[name].append(asyncio.run(_phase(port, requests)))
    return {name: {**sorted(found, key=lambda p: float(str(p["requests_per_s"])))[len(found) // 2],
                   "rounds_requests_per_s": [p["requests_per_s"] for p in found],
                   "requests_all_rounds": sum(int(str(p["requests"])) for p in found)}
            for name, found in rounds.items()}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the API did not become ready")


def _audit_commit_cost(tmp: str) -> dict[str, float]:
    """Why the access log is appended in batches: one Delta commit per request against one per batch."""
    from anpr.delta_reader import DeltaReader
    from api.access_log import ACCESS_LOG, ARROW_SCHEMA, SCHEMA

    lake = DeltaReader(str(Path(tmp) / "audit"))
    lake.create(ACCESS_LOG, SCHEMA, partition_by=["day"])
    row = {"ts": 0, "day": "2026-10-01", "trace_id": "t", "method": "GET", "path": PAGE, "status": 200,
           "duration_ms": 1.0}
    one = pa.Table.from_pylist([row], schema=ARROW_SCHEMA)
    batch = pa.Table.from_pylist([row] * 1000, schema=ARROW_SCHEMA)
    timings = {}
    for name, rows, times in (("one_row", one, 20), ("1000_rows", batch, 5)):
        started = time.perf_counter()
        for _ in range(times):
            lake.append(ACCESS_LOG, rows)
        timings[f"audit_commit_{name}_ms"] = round((time.perf_counter() - started) / times * 1e3, 1)
    return timings


def run() -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent),
                                                         os.environ.get("PYTHONPATH", "")])}
    with tempfile.TemporaryDirectory(prefix="anpr-bench-api-") as tmp:
        lake = str(Path(tmp) / "lake")
        subprocess.run([sys.executable, "-m", "bench.api_load", "publish", lake], check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
        port = _free_port()
        server = subprocess.Popen([sys.executable, "-m", "bench.api_load", "serve", lake, str(port)], env=env)
        try:
            _wait_ready(port)
            auth = {"X-API-Key": KEY, "Accept-Encoding": "gzip"}
            page = _request(PAGE, auth)
            asyncio.run(_phase(port, [page]))  # warm-up: the first read of the table and page
            etag = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}{PAGE}", headers=auth),
                                          timeout=10).headers["ETag"]
            distinct = [_request(f"{PAGE}&uur={u}&weekDag={d}&voertuigType={t}", auth)
                        for u in range(24) for d in range(1, 8) for t in ("Personenauto", "Bestelauto", "Bus")]
            series = _request(SERIES, auth)
            ogc = _request(OGC_CAMERAS, auth)
            asyncio.run(_phase(port, [series, ogc]))  # warm-up: the months' releases and the cameras table
            phases = _alternating(port, {
                "health_baseline": [_request("/health", {})],
                "table_page_20_rows": [page],
                "table_page_revalidated_304": [_request(PAGE, {**auth, "If-None-Match": etag})],
                "series_2_months": [series],
                "ogc_cameras_10": [ogc],
            })
            phases |= {
                # each a new filter: select from the release's table, serialize, gzip, then cache
                "table_page_first_visit": asyncio.run(_phase(port, distinct, repeat=False)),
                # each a new filter: both months' releases selected, joined by month, serialized, cached
                "series_first_visit": asyncio.run(_phase(port, [
                    _request(SERIES.replace("&uur=8", f"&uur={u}&weekDag={d}&voertuigType={t}"), auth)
                    for u in range(24) for d in range(1, 8) for t in ("Personenauto", "Bestelauto", "Bus")],
                    repeat=False)),
                # each a new bounding box: the cameras of the release, filtered by geometry, paged, cached
                "ogc_cameras_first_visit": asyncio.run(_phase(port, [
                    _request(f"{OGC_CAMERAS}&bbox={4 + i / 1000:.3f},51,6,53", auth) for i in range(MAX_REQUESTS)],
                    repeat=False)),
            }
        finally:
            server.terminate()
            server.wait(timeout=60)
        from anpr.delta_reader import DeltaReader
        from api.access_log import read_access_log

        audited = len(read_access_log(DeltaReader(lake), limit=None))
        costs = _audit_commit_cost(tmp)
    rate = {name: float(str(p["requests_per_s"])) for name, p in phases.items()}
    sent = sum(int(str(p.get("requests_all_rounds", p["requests"]))) for name, p in phases.items()
               if name != "health_baseline")
    return {"connections": CONNECTIONS, "max_requests_per_phase": MAX_REQUESTS, "max_seconds_per_phase": MAX_SECONDS,
            "page": PAGE, "phases": phases,
            "ratio_table_page_to_health": round(rate["table_page_20_rows"] / rate["health_baseline"], 2),
            "ratio_series_to_health": round(rate["series_2_months"] / rate["health_baseline"], 2),
            "ratio_ogc_items_to_health": round(rate["ogc_cameras_10"] / rate["health_baseline"], 2),
            "audited_rows": audited, "audited_all_data_requests": audited >= sent, **costs}

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "publish":
        publish(sys.argv[2])
    elif len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        print(json.dumps(run(), indent=2))
