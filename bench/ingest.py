"""Observations per second accepted by the ingest service, against a bare Kafka producer in the same run.

The service runs here (uvicorn, one worker) in front of the embedded broker, over TLS with the local
profile's made certificate as `anpr serve-ingest` serves it; a client in a second process posts
synthetic observation batches over loopback on a few keep-alive HTTPS connections, bounded
in requests and seconds. A 202 counts only once Kafka acknowledged every message of the request. The
baseline sends the same records with the project's reliable producer (acks=all, every delivery
report checked) straight to the same broker.

Usage: python -m bench ingest   (or `run()`); the client half: python -m bench.ingest client ...
"""

from __future__ import annotations

import http.client
import json
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BATCH = 1_000  # observations per request
REQUESTS = 300  # upper bound on requests
SECONDS = 60.0  # upper bound on the client's time
CONNECTIONS = 4
KEY = "dev-bench-ingest-key"
ROOT = Path(__file__).resolve().parent.parent


def _bodies(path: Path, count: int) -> int:
    """count request bodies of BATCH observations from a synthetic Utrecht day, one JSON envelope a line."""
    from anpr.feeds.messages import envelope
    from anpr.synth.detections import synth_day
    from anpr.zones import load_municipalities

    feed = synth_day(datetime.now(UTC).date() - timedelta(days=2), load_municipalities()[0].cameras,
                     detections=count * BATCH // 2 + 1_000, seed=11, register_size=1_000_000)
    items = [json.loads(v) for _, v, _ in feed.messages if v.startswith(b'{"')]
    items = (items * (count * BATCH // len(items) + 1))[:count * BATCH]  # a weekend day is smaller: repeat
    with path.open("w") as out:
        for start in range(0, len(items), BATCH):
            out.write(json.dumps(envelope("anpr_observation_batch", items[start:start + BATCH]),
                                 separators=(",", ":")) + "\n")
    return len(items)


def client(port: int, bodies: Path, connections: int, max_requests: int, max_seconds: float,
           ca: Path) -> dict[str, Any]:
    lines = bodies.read_bytes().splitlines()[:max_requests]
    tls = ssl.create_default_context(cafile=str(ca))
    latencies: list[float] = []
    accepted, failed = [0], [0]
    lock, started = threading.Lock(), time.perf_counter()
    queue = iter(enumerate(lines))

    def worker() -> None:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=120, context=tls)
        while time.perf_counter() - started < max_seconds:
            with lock:
                nxt = next(queue, None)
            if nxt is None:
                break
            _, body = nxt
            t0 = time.perf_counter()
            conn.request("POST", "/", body=body, headers={"Content-Type": "application/json", "X-API-Key": KEY})
            response = conn.getresponse()
            response.read()
            with lock:
                latencies.append(time.perf_counter() - t0)
                if response.status == 202:
                    accepted[0] += body.count(b'"observation_id"')
                else:
                    failed[0] += 1
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {"seconds": elapsed, "requests": len(latencies), "failed_requests": failed[0], "observations": accepted[0],
            "p50_ms": 1000 * statistics.median(ordered) if ordered else None,
            "p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))] if ordered else None}


def _bare_producer(bootstrap: str, bodies: Path, limit: int) -> tuple[int, float]:
    from anpr.broker import produce_all, reliable_producer
    from anpr.feeds.messages import headers, observation_record

    head = headers("bench-supplier", "GM0344", "bench")
    records = [observation_record(item, head) for line in bodies.read_bytes().splitlines()
               for item in json.loads(line)["payload"]][:limit]
    started = time.perf_counter()
    with reliable_producer(bootstrap) as producer:
        for start in range(0, len(records), 5_000):
            produce_all(producer, "anpr.observations", records[start:start + 5_000])
    return len(records), time.perf_counter() - started


def run() -> dict[str, Any]:

    from anpr.broker import EmbeddedBroker, free_port
    from anpr.delta_reader import DeltaReader
    from anpr.feeds.publisher import Publisher
    from anpr.idempotency import IdempotencyStore
    from anpr.settings import IngestTls
    from anpr.suppliers import Supplier, SupplierRegistry, hash_key
    from anpr.tls import server_tls
    from anpr.zones import load_municipalities
    from api.ingest.cameras import CameraRegistry
    from api.ingest.main import create_ingest_app
    from api.ingest.services import IngestServices
    from cli.serve import in_thread, server_config

    utrecht = load_municipalities()[0]
    with tempfile.TemporaryDirectory(prefix="anpr-bench-ingest-") as tmp_name, \
            EmbeddedBroker(Path(tmp_name) / "broker") as broker:
        tmp = Path(tmp_name)
        prepared = _bodies(tmp / "bodies.jsonl", REQUESTS)
        suppliers = SupplierRegistry([Supplier(
            name="bench-supplier", company="Bench B.V.", api_key_sha256=hash_key(KEY), development=True,
            municipalities=["GM0344"], cameras=[c.camera_id for c in utrecht.cameras], messages_per_minute=1_000_000)])
        lake = DeltaReader(str(tmp / "lake"))
        # Transactional, as `anpr serve-ingest` builds it (api.ingest.services.build_services).
        publisher = Publisher(broker.bootstrap, {"anpr.observations": 4, "anpr.cameras": 1}, compacted=["anpr.cameras"],
                              transactional_id="anpr-ingest-bench")
        services = IngestServices(suppliers, CameraRegistry([utrecht], suppliers, lake), publisher,
                                  IdempotencyStore(tmp / "idempotency.sqlite"), lake)
        port = free_port()
        tls = server_tls(IngestTls(), tmp, "ingest")
        assert tls is not None
        try:
            with in_thread(server_config(create_ingest_app(services), tls, host="127.0.0.1", port=port,
                                         access_log=False)):
                done = subprocess.run(
                    [sys.executable, "-m", "bench.ingest", "client", str(port), str(tmp / "bodies.jsonl"),
                     str(CONNECTIONS), str(REQUESTS), str(SECONDS), str(tls.ca)],
                    cwd=ROOT, capture_output=True, text=True, timeout=SECONDS + 120, check=True)
            measured = json.loads(done.stdout)
        finally:
            publisher.close()
        sent, seconds = _bare_producer(broker.bootstrap, tmp / "bodies.jsonl", measured["observations"] or prepared)
    ingest_rate = measured["observations"] / measured["seconds"]
    bare_rate = sent / seconds
    return {
        "observations_per_request": BATCH, "connections": CONNECTIONS, "tls": True,
        "requests": measured["requests"], "failed_requests": measured["failed_requests"],
        "ingest_observations": measured["observations"], "ingest_seconds": round(measured["seconds"], 2),
        "ingest_observations_per_s": round(ingest_rate),
        "ingest_requests_per_s": round(measured["requests"] / measured["seconds"], 1),
        "request_p50_ms": round(measured["p50_ms"], 1), "request_p99_ms": round(measured["p99_ms"], 1),
        "bare_producer_observations": sent, "bare_producer_observations_per_s": round(bare_rate),
        "ratio_ingest_to_bare_producer": round(ingest_rate / bare_rate, 2),
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["client"]:
        port, bodies, connections, requests, seconds, ca = sys.argv[2:8]
        print(json.dumps(client(int(port), Path(bodies), int(connections), int(requests), float(seconds), Path(ca))))
    else:
        print(json.dumps(run(), indent=2))
