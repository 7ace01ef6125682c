"""Subcommands of feed onboarding: `serve-ingest`, `feed csv`, `feed synth`, `onboard`.

`add_commands(sub)` adds them to the `anpr` parser; each command is called as func(args, settings).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from anpr.progress import Counter, say, step
from anpr.settings import CONF_DIR, Settings
from cli.serve import serve

API_KEY_ENV = "ANPR_FEED_API_KEY"


def _bootstrap(settings: Settings, stack: ExitStack) -> str:
    """The configured broker, or an embedded one for as long as the command runs."""
    if settings.kafka.bootstrap_servers:
        return settings.kafka.bootstrap_servers
    from anpr.broker import EmbeddedBroker

    broker = stack.enter_context(EmbeddedBroker(settings.data_dir / "broker", port=settings.kafka.embedded_port,
                                                heap=settings.kafka.embedded_heap))
    say(f"    no broker configured: started the embedded Apache Kafka at {broker.bootstrap}")
    return broker.bootstrap


def _publisher(settings: Settings, bootstrap: str):  # noqa: ANN202 - a Publisher
    from anpr.feeds.publisher import Publisher

    k = settings.kafka
    return Publisher(bootstrap, {k.observations_topic: k.partitions, k.cameras_topic: 1}, compacted=[k.cameras_topic],
                     timeout_s=30.0)


def _ingest_sink(args: argparse.Namespace, settings: Settings):  # noqa: ANN202 - an IngestSink
    from anpr.feeds.sinks import IngestSink

    key = os.environ.get(API_KEY_ENV) or (Path(args.api_key_file).read_text().strip() if args.api_key_file else "")
    if not key:
        raise SystemExit(f"--via ingest needs the supplier's API key in ${API_KEY_ENV} or --api-key-file")
    return IngestSink(args.url or f"http://{settings.api.host}:{settings.api.ingest_port}", key)


def cmd_serve_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from api.ingest.main import create_ingest_app
    from api.ingest.services import build_services

    with ExitStack() as stack:
        bootstrap = _bootstrap(settings, stack)
        port, host = args.port or settings.api.ingest_port, args.host or settings.api.host
        services = build_services(settings, bootstrap, port=port)
        stack.callback(services.publisher.close)
        serve(create_ingest_app(services), host, port,
              f"ingest API on http://{host}:{port} (POST /, docs at /docs), Kafka {bootstrap}, "
              f"{len(services.suppliers.suppliers)} supplier(s); Ctrl-C stops it")
    return 0


def cmd_feed_csv(args: argparse.Namespace, settings: Settings) -> int:
    from anpr.feeds.csv_feed import load_mapping
    from anpr.feeds.drop import csv_files, process_drop
    from anpr.feeds.sinks import IngestSink, KafkaSink
    from anpr.zones import load_municipalities

    mapping = load_mapping(Path(args.mapping) if args.mapping else CONF_DIR / "feeds" / f"{args.supplier}.toml")
    paths = [Path(p) for p in args.paths]
    failures = 0
    sink: KafkaSink | IngestSink
    with ExitStack() as stack:
        if args.via == "kafka":
            publisher = _publisher(settings, _bootstrap(settings, stack))
            stack.callback(publisher.close)
            owners = {c.camera_id: m.code for m in load_municipalities() for c in m.cameras}
            sink = KafkaSink(publisher, settings.kafka.observations_topic, mapping.supplier, owners,
                             mapping.municipality)
        else:
            sink = _ingest_sink(args, settings)
        while True:
            files = csv_files(paths)
            if files:
                lines = sum(max(0, len(f.read_bytes().splitlines()) - 1) for f in files)
                counter = Counter("rows delivered", lines)
                replays = sink.replays if isinstance(sink, IngestSink) else 0
                outcome = process_drop(files, mapping, sink, move=not args.keep, progress=counter.add, say=say)
                failures += len(outcome.failed)
                # A replayed batch was delivered before with the same rows: the endpoint published nothing again.
                replayed = (sink.replays - replays) if isinstance(sink, IngestSink) else 0
                print(f"files {len(outcome.exports)}  rows {sum(e.rows for e in outcome.exports):,}  "
                      f"delivered {outcome.delivered:,}  bad rows {sum(len(e.bad) for e in outcome.exports):,}  "
                      f"failed files {len(outcome.failed)}"
                      + (f"  batches already delivered before {replayed}" if replayed else ""), flush=True)
            if not args.watch:
                break
            time.sleep(args.watch)
    return 1 if failures else 0


def cmd_feed_synth(args: argparse.Namespace, settings: Settings) -> int:
    from anpr.feeds.synth_feed import cities, run_synth
    from anpr.synth_register import DEFAULT_SIZE
    from anpr.zones import load_municipalities

    first = args.day or datetime.now(UTC).date() - timedelta(days=2)
    towns = cities(load_municipalities(), args.cities, args.seed)
    scale = args.detections / towns[0][1]
    total = int(sum(s for _, s in towns) * scale * args.days)
    with ExitStack() as stack:
        publisher, sink = None, None
        if args.via == "kafka":
            publisher = _publisher(settings, _bootstrap(settings, stack))
            stack.callback(publisher.close)
        else:
            sink = _ingest_sink(args, settings)
        counter = Counter("detections delivered (about)", total, every=5.0)
        with step(f"synthetic feed: {args.cities} cities x {args.days} day(s) from {first}, ~{total:,} detections "
                  f"via {args.via}{' in simulated time' if args.simulated_time else ''}"):
            run = run_synth(towns, first, args.days, seed=args.seed, supplier=args.supplier,
                            register_size=args.register_size or DEFAULT_SIZE, publisher=publisher,
                            topic=settings.kafka.observations_topic, sink=sink, simulated_time=args.simulated_time,
                            min_confidence=settings.stream.min_read_confidence, scale=scale,
                            on_city_day=lambda town, feed, sent: counter.add(sent))
    print(json.dumps({"city_days": run.city_days, "published": run.published, "expected_valid": run.valid,
                      "non_json_left_out": run.skipped_poison}, indent=2))
    if run.stale_days:
        say(f"warning: {len(run.stale_days)} city-day(s) were published outside their live window (e.g. "
            f"{run.stale_days[0]}): the stream will judge their events too late or in the future; "
            f"use --simulated-time with --via kafka for history")
    return 0


def cmd_onboard(args: argparse.Namespace, settings: Settings) -> int:
    from anpr.feeds.onboard import OnboardError, onboard, parse_window, read_cameras

    conf_dir = Path(args.conf_dir) if args.conf_dir else CONF_DIR
    try:
        result = onboard(conf_dir, args.name, args.code, Path(args.zones), args.supplier, company=args.company,
                         cameras=read_cameras(Path(args.cameras)) if args.cameras else None,
                         windows=[parse_window(w) for w in args.time_window], zone_id=args.zone_id,
                         zone_name=args.zone_name, development=args.dev, ndw_code=args.ndw_code)
    except OnboardError as exc:
        say(f"anpr onboard: {exc}; nothing was written")
        return 2
    m = result.municipality
    print(f"onboarded {m.municipality} ({m.code}): {len(m.zones)} zone(s), {len(m.cameras)} camera(s) usable, "
          f"{len(m.time_windows)} time window(s), supplier {args.supplier}")
    for path in result.files:
        print(f"  wrote {path}")
    if result.new_key:
        print(f"API key of new supplier {args.supplier} (shown once, stored only as its SHA-256):\n  {result.new_key}")
    print("missing or to check:")
    for item in result.missing:
        print(f"  - {item}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve-ingest", help="the suppliers' ingest API (POST /, port 8081) in front of Kafka")
    p.add_argument("--port", type=int, default=0, help="port (default: settings, 8081)")
    p.add_argument("--host", default="", help="interface (default: settings, 127.0.0.1)")
    p.set_defaults(func=cmd_serve_ingest)

    feed = sub.add_parser("feed", help="deliver detections: supplier CSV exports or synthetic feeds")
    feeds = feed.add_subparsers(dest="feed_command", required=True, metavar="FEED")

    def delivery(q: argparse.ArgumentParser, default: str) -> None:
        q.add_argument("--via", choices=["kafka", "ingest"], default=default,
                       help=f"straight to Kafka (settings' broker, else an embedded one) or through the ingest "
                            f"endpoint with the supplier's key in ${API_KEY_ENV} (default {default})")
        q.add_argument("--url", default="", help="ingest endpoint (default http://<api.host>:<api.ingest_port>)")
        q.add_argument("--api-key-file", default="", help=f"file holding the supplier's API key (else ${API_KEY_ENV})")

    q = feeds.add_parser("csv", help="file drop: deliver supplier CSV exports, report bad rows, move files")
    q.add_argument("paths", nargs="+", help="CSV files or drop directories (their *.csv)")
    q.add_argument("--supplier", default="demo-supplier", help="whose mapping conf/feeds/<supplier>.toml to use")
    q.add_argument("--mapping", default="", help="a mapping file instead")
    q.add_argument("--keep", action="store_true",
                   help="leave files in place (default: move to processed/ or rejected/)")
    q.add_argument("--watch", type=float, default=0.0, help="poll the paths every N seconds until Ctrl-C")
    delivery(q, "ingest")
    q.set_defaults(func=cmd_feed_csv)

    q = feeds.add_parser("synth", help="seeded realistic municipal feeds, one zone-day up to 45 cities x a month")
    q.add_argument("--day", type=date.fromisoformat, help="first day (default: two days ago)")
    q.add_argument("--days", type=int, default=1, help="number of days (default 1)")
    q.add_argument("--cities", type=int, default=1, help="configured municipalities first, then synthetic ones")
    q.add_argument("--detections", type=int, default=63_500,
                   help="Utrecht's detections per working day; other cities scale along (default 63,500)")
    q.add_argument("--seed", type=int, default=7)
    q.add_argument("--supplier", default="demo-supplier", help="the supplier header of the messages")
    q.add_argument("--register-size", type=int, default=0, help="size of the synthetic register (default national)")
    q.add_argument("--simulated-time", action="store_true",
                   help="Kafka timestamps = simulated delivery times, so history is judged as if live (kafka only)")
    delivery(q, "kafka")
    q.set_defaults(func=cmd_feed_synth)

    p = sub.add_parser("onboard",
                       help="register a municipality, its zones, supplier and cameras; print what is missing")
    p.add_argument("--name", required=True, help="municipality name, e.g. Amersfoort")
    p.add_argument("--code", required=True, help="CBS municipality code, e.g. GM0307")
    p.add_argument("--zones", required=True, help="GeoJSON of the ZE zone(s) (properties zone_id, name optional)")
    p.add_argument("--zone-id", default=None, help="zone id when the GeoJSON has none (default <code>-ZE1)")
    p.add_argument("--zone-name", default=None, help="zone name when the GeoJSON has none")
    p.add_argument("--ndw-code", type=int, default=None,
                   help="the zone's NDW zone code (published as zoneId) when the GeoJSON has one zone without "
                        "the property ndw_code")
    p.add_argument("--supplier", required=True, help="supplier name (lowercase, e.g. connection-systems)")
    p.add_argument("--company", default=None, help="supplier's company name on receipts")
    p.add_argument("--cameras", default=None, help="CSV or JSON: camera_id,name,lat,lon[,azimuth_deg,zone_id,...]")
    p.add_argument("--time-window", action="append", default=[], help="'name,HH:MM,HH:MM,1-5' (repeatable)")
    p.add_argument("--dev", action="store_true", help="issue a development key (dev-...) for a test supplier")
    p.add_argument("--conf-dir", default="", help="configuration directory (default: conf/)")
    p.set_defaults(func=cmd_onboard)
