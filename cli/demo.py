"""`anpr run`: the whole embedded platform on one machine, from a synthetic feed to the vendor API."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from anpr.broker import create_topics, embedded_broker, produce_all, reliable_producer
from anpr.kafka_security import client_config
from anpr.progress import Counter, say, step
from anpr.settings import Settings
from anpr.synth.detections import SynthDay, synth_day
from anpr.zones import Municipality, municipality_by_code

PUBLISH_CHUNK = 5_000
# A city-sized register keeps `make run` quick; `anpr register synth` loads the national 10 million.
DEMO_REGISTER_SIZE = 200_000
DEMO_REGISTER_SEED = 1


@dataclass
class DemoSummary:
    day: date
    published: int
    expected_valid: int
    expected_in_scope: int  # of the valid ones, those in the municipality's scope: the passages to expect
    quarantined_expected: int
    duplicates_sent: int
    passages_for_feed: int
    passages_written_now: int
    out_of_scope_now: int  # valid detections this run dropped as out of scope, only counted
    release_id: str
    rows_published: int
    engine: str  # the engine named by the passages table's last commit


def default_day() -> date:
    # Two days back keeps every synthetic event (stays run past midnight) in the past, and well
    # inside the 7-day lateness window.
    return datetime.now(UTC).date() - timedelta(days=2)


def with_bootstrap(settings: Settings, bootstrap: str) -> Settings:
    kafka = settings.kafka.model_copy(update={"bootstrap_servers": bootstrap})
    return settings.model_copy(update={"kafka": kafka})


def publish_feed(bootstrap: str, topic: str, feed: SynthDay, client: dict[str, object] | None = None) -> int:
    counter = Counter("detections published", feed.published)
    sent = 0
    with reliable_producer(bootstrap, client) as producer:
        for start in range(0, feed.published, PUBLISH_CHUNK):
            sent += produce_all(producer, topic, feed.messages[start:start + PUBLISH_CHUNK])
            counter.add(min(PUBLISH_CHUNK, feed.published - start))
    return sent


def count_feed_passages(lake, feed: SynthDay, municipality: str) -> int:  # noqa: ANN001 - a Lake
    from anpr.stream_tables import PASSAGES

    days = [feed.day, feed.day + timedelta(days=1)]
    table = lake.read_arrow(PASSAGES, columns=["observation_id"],
                            filters=[("municipality", "=", municipality), ("event_date", "in", days)])
    return len(set(table.column("observation_id").to_pylist()) & feed.valid_ids)


def feed_in_scope(lake, feed: SynthDay, municipality: Municipality, pepper: bytes) -> set[str]:  # noqa: ANN001
    """The feed's valid observation ids that are in the municipality's scope (anpr.zones.Scope), each
    looked up in the register as of its event time with the snapshot lookup enrichment uses; the scope
    rule is applied here in Python, apart from the stream's Spark column, so the two check each other."""
    import pyarrow as pa

    from anpr.pseudonym import vehicle_key
    from streaming.enrich import read_register_snapshot

    found: dict[str, dict] = {}
    for _, value, _ in feed.messages:
        try:
            item = json.loads(value)
        except ValueError:
            continue
        if isinstance(item, dict) and item.get("observation_id") in feed.valid_ids:
            found.setdefault(item["observation_id"], item)
    items = list(found.values())
    moments = [datetime.fromisoformat(o["event_time"].replace("Z", "+00:00")) for o in items]
    days = [m.astimezone(ZoneInfo("Europe/Amsterdam")).date() for m in moments]
    out = read_register_snapshot(lake).lookup(
        pa.array([vehicle_key(pepper, o["plate_text"], o["plate_country"]) for o in items], pa.string()),
        pa.array([o["plate_country"] for o in items], pa.string()), pa.array(moments, pa.timestamp("us", "UTC")),
        pa.array(days, pa.date32()), pa.array([municipality.code] * len(items), pa.string()))
    scope = municipality.scope
    types, owners = {*scope.voertuig_types, *scope.unclassified}, set(scope.eigenaar_types)
    return {o["observation_id"] for o, kind, owner in zip(items, out["voertuig_type"].to_pylist(),
                                                          out["eigenaar_type"].to_pylist(), strict=True)
            if kind in types or owner in owners}


def run_demo(settings: Settings, day: date, detections: int, seed: int, spark=None) -> DemoSummary:  # noqa: ANN001
    """Runs everything; a given Spark session is used and left running, otherwise one is made and stopped."""
    from anpr.lake import make_lake
    from anpr.spark import get_spark
    from anpr.stream_tables import PASSAGES
    from jobs.register import load_synthetic_register
    from jobs.stats.job import run_monthly_stats
    from streaming.job import run_stream
    from streaming.sink import register_pepper

    municipality = municipality_by_code("GM0344")
    broker = embedded_broker(settings)
    # A broker already serving the data directory (`anpr broker`) is used: starting one would stop it.
    attached = broker.attach()
    say(f"==> using the Apache Kafka already serving {broker.home} (pid {attached}); it stays running after this "
        "run, and a run on another command's own broker fails when that command ends" if attached
        else "==> starting the embedded broker ...")
    with broker:
        settings = with_bootstrap(settings, broker.bootstrap)
        say(f"    Apache Kafka {broker.version} (cluster {broker.cluster_id}) at {broker.bootstrap}")
        create_topics(broker.bootstrap, {settings.kafka.observations_topic: settings.kafka.partitions,
                                         settings.kafka.cameras_topic: 1}, compacted=[settings.kafka.cameras_topic],
                      client=broker.admin_client)
        with step(f"generating one synthetic day ({day}) for {municipality.municipality}"):
            feed = synth_day(day, municipality.cameras, detections, seed, municipality=municipality.code,
                             min_confidence=settings.stream.min_read_confidence,
                             register_size=DEMO_REGISTER_SIZE, register_seed=DEMO_REGISTER_SEED)
        own_spark = spark is None
        with step("starting Spark"):
            spark = spark or get_spark(settings)
            lake = make_lake(settings, spark)
        try:
            with step(f"loading the synthetic register of {DEMO_REGISTER_SIZE:,} vehicles (pseudonymized)"):
                counts = load_synthetic_register(lake, settings, DEMO_REGISTER_SIZE, DEMO_REGISTER_SEED)
                say("    " + ", ".join(f"{name}: {n:,}" for name, n in counts.items()))
            with step(f"publishing {feed.published:,} detections to {settings.kafka.observations_topic}"):
                publish_feed(broker.bootstrap, settings.kafka.observations_topic, feed,
                             client_config(settings, "producer"))
            written = dropped = 0

            def on_batch(report) -> None:  # noqa: ANN001 - a BatchReport
                nonlocal written, dropped
                written += report.passages_written
                dropped += report.out_of_scope
                say(f"    batch {report.batch_id}: {report.rows_in:,} in, {report.passages_written:,} passages, "
                    f"{report.out_of_scope:,} out of scope, {report.duplicates:,} duplicates, "
                    f"{sum(report.quarantined.values()):,} quarantined")

            with step("streaming until the topic is drained"):
                # The broker keeps its log across runs, so the stream resumes from its checkpoint.
                run_stream(spark, settings, lake, until_idle=True, on_batch=on_batch)
            month = day.strftime("%Y-%m")
            with step(f"building and publishing table 4.1 for {month}"):
                release = run_monthly_stats(spark, settings, lake, month)
            in_scope = feed_in_scope(lake, feed, municipality, register_pepper(lake, settings).read())
            return DemoSummary(
                day=day, published=feed.published, expected_valid=feed.expected_valid,
                expected_in_scope=len(in_scope),
                quarantined_expected=feed.low_confidence + feed.poison, duplicates_sent=feed.duplicates,
                passages_for_feed=count_feed_passages(lake, feed, municipality.code),
                passages_written_now=written, out_of_scope_now=dropped, release_id=release.release_id,
                rows_published=sum(release.row_counts.values()),
                engine=str(lake.history(PASSAGES, 1)[0]["engine"]),
            )
        finally:
            if own_spark:
                spark.stop()
