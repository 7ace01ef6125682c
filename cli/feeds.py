"""Subcommands of feed onboarding: `serve-ingest`, `feed csv`, `feed synth`, `onboard`.

`add_commands(app)` adds them to the `anpr` typer app; each command is run as func(args, settings).
"""

from __future__ import annotations

import json
import os
import time
from argparse import Namespace
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

import typer

from anpr.commands import call, group
from anpr.progress import Counter, say, step
from anpr.settings import CONF_DIR, Settings
from anpr.tls import client_ca, server_tls
from cli.serve import base_url, serve

API_KEY_ENV = "ANPR_FEED_API_KEY"


def configured_or_running(settings: Settings) -> str | None:
    """The configured broker, else the data directory's running one (said), else None. A command must not start its
    own beside a running one: that would stop it (anpr/broker.py _stop_stale), under whoever uses it."""
    if settings.kafka.bootstrap_servers:
        return settings.kafka.bootstrap_servers
    from anpr.broker import serving_broker

    running = serving_broker(settings.data_dir / "broker")
    if running is not None:
        say(f"    no broker configured: using the data directory's running Apache Kafka at {running}")
    return running


def bootstrap_or_embedded(settings: Settings, stack: ExitStack) -> str:
    """`configured_or_running`, else the data directory's embedded one for as long as the command runs (its log
    survives, so a later `anpr stream` reads what an `anpr feed` published)."""
    found = configured_or_running(settings)
    if found is not None:
        return found
    from anpr.broker import embedded_broker

    broker = stack.enter_context(embedded_broker(settings))
    say(f"    no broker configured: started the embedded Apache Kafka at {broker.bootstrap}")
    return broker.bootstrap


def _publisher(settings: Settings, bootstrap: str):  # noqa: ANN202 - a Publisher
    from anpr.feeds.publisher import Publisher
    from anpr.kafka_security import client_config

    k = settings.kafka
    return Publisher(bootstrap, {k.observations_topic: k.partitions, k.cameras_topic: 1}, compacted=[k.cameras_topic],
                     timeout_s=30.0, client=client_config(settings, "producer"))


def _ingest_sink(args: Namespace, settings: Settings):  # noqa: ANN202 - an IngestSink
    from jobs.feeds.sinks import IngestSink

    key = os.environ.get(API_KEY_ENV) or (Path(args.api_key_file).read_text().strip() if args.api_key_file else "")
    if not key:
        raise SystemExit(f"--via ingest needs the supplier's API key in ${API_KEY_ENV} or --api-key-file")
    tls = settings.api.ingest_tls
    url = args.url or base_url(settings.api.host, settings.api.ingest_port, tls.enabled)
    return IngestSink(url, key, ca_file=client_ca(tls, settings.data_dir, "ingest"))


def cmd_serve_ingest(args: Namespace, settings: Settings) -> int:
    from api.ingest.main import create_ingest_app
    from api.ingest.services import build_services

    with ExitStack() as stack:
        bootstrap = bootstrap_or_embedded(settings, stack)
        port, host = args.port or settings.api.ingest_port, args.host or settings.api.host
        tls = server_tls(settings.api.ingest_tls, settings.data_dir, "ingest")
        services = build_services(settings, bootstrap, port=port)
        stack.callback(services.publisher.close)
        trust = f"; clients verify it with {tls.ca}" if tls else " (no TLS: ANPR_API__INGEST_TLS__ENABLED=false)"
        serve(create_ingest_app(services), host, port,
              f"ingest API on {base_url(host, port, tls is not None)} (POST /, docs at /docs), Kafka {bootstrap}, "
              f"{len(services.suppliers.suppliers)} supplier(s){trust}; Ctrl-C stops it", tls)
    return 0


def arrival(path: Path) -> datetime:
    """When a file arrived here (its inode change time, which an upload cannot set back as it can the
    modification time): a delivery's time, the same when a failed delivery is read again, so the rows it
    judges late, and the batches and idempotency keys they leave, stay the same."""
    return datetime.fromtimestamp(path.stat().st_ctime, UTC)


def cmd_feed_csv(args: Namespace, settings: Settings) -> int:
    from anpr.zones import load_municipalities
    from jobs.feeds.csv_feed import Accepted, load_mapping
    from jobs.feeds.drop import csv_files, process_drop
    from jobs.feeds.sinks import IngestSink, KafkaSink

    mapping = load_mapping(Path(args.mapping) if args.mapping else CONF_DIR / "feeds" / f"{args.supplier}.toml")
    paths = [Path(p) for p in args.paths]
    stream = settings.stream
    failures = 0
    sink: KafkaSink | IngestSink
    with ExitStack() as stack:
        if args.via == "kafka":
            publisher = _publisher(settings, bootstrap_or_embedded(settings, stack))
            stack.callback(publisher.close)
            owners = {c.camera_id: m.code for m in load_municipalities() for c in m.cameras}
            sink = KafkaSink(publisher, settings.kafka.observations_topic, mapping.supplier, owners,
                             mapping.municipality)
        else:
            sink = _ingest_sink(args, settings)
        # A file still being uploaded must not be read (and deleted) half-way: --watch takes a file once it has
        # not changed for two polls (at least 10 s); a run without --watch reads what it is given.
        settle = max(10.0, 2 * args.watch) if args.watch else 0.0
        while True:
            files = [f for f in csv_files(paths) if time.time() - f.stat().st_mtime >= settle]
            if files:
                lines = sum(max(0, _line_count(f) - 1) for f in files)
                counter = Counter("rows delivered", lines)
                replays = sink.replays if isinstance(sink, IngestSink) else 0
                try:
                    # A file that keeps failing holds raw plates: rejected within the topic's retention of them.
                    outcome = process_drop(files, mapping, sink, delete=not args.keep, progress=counter.add, say=say,
                                           accepted=lambda path: Accepted(arrival(path), stream.max_lateness_days,
                                                                          stream.future_tolerance_minutes),
                                           max_age_hours=settings.retention.kafka_hours)
                finally:
                    counter.close()  # bad rows are never delivered: the bar may end short of its total
                failures += len(outcome.failed)
                # A replayed batch was delivered before with the same rows: the endpoint published nothing again.
                replayed = (sink.replays - replays if isinstance(sink, IngestSink) else 0) + outcome.replayed
                print(f"files {len(outcome.exports)}  rows {sum(e.rows for e in outcome.exports):,}  "
                      f"delivered {outcome.delivered:,}  bad rows {sum(len(e.bad) for e in outcome.exports):,}  "
                      f"failed files {len(outcome.failed)}"
                      + (f"  batches already delivered before {replayed}" if replayed else ""), flush=True)
            if not args.watch:
                break
            time.sleep(args.watch)
    return 1 if failures else 0


def cmd_feed_synth(args: Namespace, settings: Settings) -> int:
    from anpr.synth.register import DEFAULT_SIZE
    from anpr.zones import load_municipalities
    from jobs.feeds.synth_feed import cities, run_synth

    first = args.day or datetime.now(UTC).date() - timedelta(days=2)
    kept = datetime.now(UTC) - timedelta(hours=settings.retention.kafka_hours)
    if args.simulated_time and datetime(first.year, first.month, first.day, tzinfo=UTC) < kept:
        # Kafka deletes by record timestamp: history stamped in the past would be gone before the stream reads it.
        say(f"anpr feed synth: --simulated-time stamps records with their simulated delivery times, and the topic "
            f"keeps {settings.retention.kafka_hours} h ([retention] kafka_hours: raw plates gone within 24 hours), "
            f"so deliveries from {first} would be deleted unread; publish history to a topic of its own with "
            f"retention.ms=-1 (python -m bench pipeline does), or leave out --simulated-time; nothing was published")
        return 2
    towns = cities(load_municipalities(), args.cities, args.seed)
    scale = args.detections / towns[0][1]
    total = int(sum(s for _, s in towns) * scale * args.days)
    with ExitStack() as stack:
        publisher, sink = None, None
        if args.via == "kafka":
            publisher = _publisher(settings, bootstrap_or_embedded(settings, stack))
            stack.callback(publisher.close)
        else:
            sink = _ingest_sink(args, settings)
        counter = Counter("detections delivered (about)", total, every=5.0)
        stack.callback(counter.close)  # the total is an estimate
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


def cmd_onboard(args: Namespace, settings: Settings) -> int:
    from jobs.feeds.onboard import OnboardError, onboard, parse_window, read_cameras

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


Via = Literal["kafka", "ingest"]
_VIA_HELP = (f"straight to Kafka (settings' broker, else an embedded one) or through the ingest endpoint with the "
             f"supplier's key in ${API_KEY_ENV}")
Url = Annotated[str, typer.Option("--url", help="ingest endpoint (default https://<api.host>:<api.ingest_port>, "
                                          "verified with the CA of api.ingest_tls)")]
ApiKeyFile = Annotated[str, typer.Option("--api-key-file",
                                         help=f"file holding the supplier's API key (else ${API_KEY_ENV})")]


def add_commands(app: typer.Typer) -> None:
    @app.command("serve-ingest", help="the suppliers' ingest API (POST /, port 8081) in front of Kafka")
    def serve_ingest(ctx: typer.Context,
                     port: Annotated[int, typer.Option("--port", help="port (default: settings, 8081)")] = 0,
                     host: Annotated[str, typer.Option("--host", help="interface (default: settings, 127.0.0.1)")]
                     = "") -> Namespace:
        return call(ctx, cmd_serve_ingest, port=port, host=host)

    feed = group("deliver detections: supplier CSV exports or synthetic feeds")

    @feed.command("csv", help="file drop: deliver supplier CSV exports, report bad rows, delete files")
    def csv(ctx: typer.Context,
            paths: Annotated[list[str], typer.Argument(metavar="PATH",
                                                       help="CSV files or drop directories (their *.csv)")],
            supplier: Annotated[str, typer.Option("--supplier", help="whose mapping conf/feeds/<supplier>.toml to "
                                                                     "use")] = "demo-supplier",
            mapping: Annotated[str, typer.Option("--mapping", help="a mapping file instead")] = "",
            keep: Annotated[bool, typer.Option("--keep", help="leave files in place (default: delete each once read, "
                                                              "its report in processed/ or rejected/; one whose "
                                                              "delivery failed stays until retention.kafka_hours "
                                                              "old)")] = False,
            watch: Annotated[float, typer.Option("--watch", help="poll the paths every N seconds until Ctrl-C")]
            = 0.0,
            via: Annotated[Via, typer.Option("--via", help=_VIA_HELP)] = "ingest",
            url: Url = "", api_key_file: ApiKeyFile = "") -> Namespace:
        return call(ctx, cmd_feed_csv, paths=paths, supplier=supplier, mapping=mapping, keep=keep, watch=watch,
                    via=via, url=url, api_key_file=api_key_file)

    @feed.command("synth", help="seeded realistic municipal feeds, one zone-day up to 45 cities x a month")
    def synth(ctx: typer.Context,
              day: Annotated[date | None, typer.Option("--day", parser=date.fromisoformat, metavar="DAY",
                                                       help="first day (default: two days ago)")] = None,
              days: Annotated[int, typer.Option("--days", help="number of days")] = 1,
              cities: Annotated[int, typer.Option("--cities", help="configured municipalities first, then "
                                                                   "synthetic ones")] = 1,
              detections: Annotated[int, typer.Option("--detections", help="Utrecht's detections per working day; "
                                                                           "other cities scale along")] = 63_500,
              seed: Annotated[int, typer.Option("--seed")] = 7,
              supplier: Annotated[str, typer.Option("--supplier", help="the supplier header of the messages")]
              = "demo-supplier",
              register_size: Annotated[int, typer.Option("--register-size", help="size of the synthetic register "
                                                                                 "(default national)")] = 0,
              simulated_time: Annotated[bool, typer.Option(
                  "--simulated-time", help="Kafka timestamps = simulated delivery times, so history is judged as "
                                           "if live (kafka only)")] = False,
              via: Annotated[Via, typer.Option("--via", help=_VIA_HELP)] = "kafka",
              url: Url = "", api_key_file: ApiKeyFile = "") -> Namespace:
        return call(ctx, cmd_feed_synth, day=day, days=days, cities=cities, detections=detections, seed=seed,
                    supplier=supplier, register_size=register_size, simulated_time=simulated_time, via=via, url=url,
                    api_key_file=api_key_file)

    app.add_typer(feed, name="feed")

    @app.command("onboard", help="register a municipality, its zones, supplier and cameras; print what is missing")
    def onboard(ctx: typer.Context,
                name: Annotated[str, typer.Option("--name", help="municipality name, e.g. Amersfoort")],
                code: Annotated[str, typer.Option("--code", help="CBS municipality code, e.g. GM0307")],
                zones: Annotated[str, typer.Option("--zones", help="GeoJSON of the ZE zone(s) (properties zone_id, "
                                                                   "name optional)")],
                supplier: Annotated[str, typer.Option("--supplier", help="supplier name (lowercase, e.g. "
                                                                         "connection-systems)")],
                zone_id: Annotated[str | None, typer.Option("--zone-id", help="zone id when the GeoJSON has none "
                                                                              "(default <code>-ZE1)")] = None,
                zone_name: Annotated[str | None, typer.Option("--zone-name", help="zone name when the GeoJSON has "
                                                                                  "none")] = None,
                ndw_code: Annotated[int | None, typer.Option(
                    "--ndw-code", help="the zone's NDW zone code (published as zoneId) when the GeoJSON has one zone "
                                       "without the property ndw_code")] = None,
                company: Annotated[str | None, typer.Option("--company", help="supplier's company name on "
                                                                              "receipts")] = None,
                cameras: Annotated[str | None, typer.Option(
                    "--cameras", help="CSV or JSON: camera_id,name,lat,lon[,azimuth_deg,zone_id,...]")] = None,
                time_window: Annotated[list[str] | None, typer.Option(
                    "--time-window", metavar="WINDOW", help="'name,HH:MM,HH:MM,1-5' (repeatable)")] = None,
                dev: Annotated[bool, typer.Option("--dev", help="issue a development key (dev-...) for a test "
                                                                "supplier")] = False,
                conf_dir: Annotated[str, typer.Option("--conf-dir", help="configuration directory (default: "
                                                                         "conf/)")] = "") -> Namespace:
        return call(ctx, cmd_onboard, name=name, code=code, zones=zones, supplier=supplier, zone_id=zone_id,
                    zone_name=zone_name, ndw_code=ndw_code, company=company, cameras=cameras,
                    time_window=time_window or [], dev=dev, conf_dir=conf_dir)


def _line_count(path: Path) -> int:
    """Lines of a file for the progress bar's total, read in 1 MiB chunks: an export may be larger than memory."""
    count, last = 0, b"\n"
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")
