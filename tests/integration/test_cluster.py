"""The distributed path: the stream and the monthly statistics on a Spark standalone cluster (a master and
two workers, each its own JVM) give the same passages and a bit-identical release as `local[2]`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from deltalake import DeltaTable

from anpr.broker import create_topics, produce_all, reliable_producer
from anpr.delta_reader import DeltaReader
from anpr.standalone import StandaloneCluster
from anpr.stream_tables import PASSAGES
from anpr.synth.detections import synth_day
from anpr.zones import municipality_by_code
from cli.demo import feed_in_scope
from tests.days import DAY, lateness_days

pytestmark = pytest.mark.integration
TOPIC = "anpr.observations"
REGISTER = {"size": 5_000, "seed": 3}


def anpr(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, capture_output=True, text=True,
                          timeout=900, check=False)
    assert done.returncode == 0, f"anpr {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.mark.timeout(1800)
def test_stream_and_stats_on_a_standalone_cluster_equal_local(broker, tmp_path):
    day = DAY
    feed = synth_day(day, municipality_by_code("GM0344").cameras, detections=3_000, seed=21,
                     register_size=REGISTER["size"], register_seed=REGISTER["seed"])
    create_topics(broker.bootstrap, {TOPIC: 4})
    with reliable_producer(broker.bootstrap) as producer:
        produce_all(producer, TOPIC, feed.messages)
    pepper = f"test-pepper-{uuid.uuid4().hex}"
    events = tmp_path / "spark-events"
    events.mkdir()
    digests, passages = {}, {}
    with StandaloneCluster(tmp_path / "standalone", workers=2, cores=1, memory="2g") as cluster:
        for name, master in (("local", "local[2]"), ("cluster", cluster.master_url)):
            data = tmp_path / name
            env = {**os.environ, "ANPR_DATA_DIR": str(data), "ANPR_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
                   "ANPR_PEPPER": pepper, "ANPR_SPARK__MASTER": master, "ANPR_SPARK__SHUFFLE_PARTITIONS": "3",
                   "ANPR_SPARK__DRIVER_MEMORY": "1g", "ANPR_STREAM__MAX_LATENESS_DAYS": str(lateness_days()),
                   "ANPR_SPARK__EXTRA": json.dumps({"spark.eventLog.enabled": "true",
                                                    "spark.eventLog.dir": str(events),
                                                    "spark.executor.memory": "1g"})}
            if name == "local":
                anpr(env, "register", "synth", "--size", str(REGISTER["size"]), "--seed", str(REGISTER["seed"]),
                     "--workers", "1")
            else:  # the same deterministic register: a copy saves a second load
                shutil.copytree(tmp_path / "local" / "lake" / "register", data / "lake" / "register")
            anpr(env, "stream", "--until-idle")
            anpr(env, "stats", "--month", day.strftime("%Y-%m"))
            rows = DeltaTable(str(data / "lake" / PASSAGES)).to_pyarrow_table().sort_by("observation_id")
            passages[name] = rows
            releases = DeltaTable(str(data / "lake" / "releases")).to_pyarrow_table().to_pylist()
            assert len(releases) == 1
            digests[name] = json.loads(releases[0]["protection"])["content_sha256"]
        assert cluster.alive_workers() == 2
        apps = list((tmp_path / "standalone" / "work").glob("app-*/*"))
        assert len(apps) >= 2 * 2, "the cluster's executors did not run the jobs"  # 2 workers x 2 apps

    # Private passenger cars and other out-of-scope detections are dropped (anpr.zones.Scope).
    in_scope = feed_in_scope(DeltaReader(str(tmp_path / "local" / "lake")), feed, municipality_by_code("GM0344"),
                             pepper.encode())
    assert 0 < len(in_scope) < len(feed.valid_ids)
    assert set(passages["cluster"].column("observation_id").to_pylist()) == in_scope
    assert passages["cluster"].equals(passages["local"])
    assert digests["cluster"] == digests["local"]
    # The pepper never reaches a query plan, an event log or an executor's log.
    assert list(events.iterdir()), "no Spark event logs were written"
    assert files_containing(events, pepper.encode()) == []
    assert files_containing(tmp_path / "standalone", pepper.encode()) == []
    for name in ("local", "cluster"):  # only the 0600 secret file itself holds it
        assert files_containing(tmp_path / name, pepper.encode()) == [tmp_path / name / "secrets" / "pepper"]
