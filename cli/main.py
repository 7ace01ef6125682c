"""`anpr`: the operator CLI. Every subcommand has --help; heavy imports happen inside commands."""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import os
import signal
import sys
from argparse import Namespace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from pydantic import ValidationError

from anpr import operator_audit
from anpr.broker import BrokerError
from anpr.commands import call, group
from anpr.jvm import JvmError
from anpr.logs import setup_logging
from anpr.operator_audit import running
from anpr.progress import last_said, say
from anpr.settings import Settings, get_settings, refusal
from anpr.tls import server_tls
from cli.audit import begin, finish
from cli.errors import one_line_cause
from cli.serve import PortInUseError, base_url, serve

if TYPE_CHECKING:
    from streaming.sink import BatchReport

log = logging.getLogger("anpr.cli")

# Subcommand groups owned by their areas: each module has add_commands(app), adding its typer commands.
EXTENSIONS = ["cli.feeds", "jobs.register.cli", "jobs.stats.cli", "jobs.retention_cli", "cli.privacy",
              "cli.audit", "cli.keys"]


def cmd_broker(args: Namespace, settings: Settings) -> int:
    from anpr.broker import create_topics, embedded_broker, serving_broker

    # Starting one would stop the broker another command serves (anpr run and the feeds use it instead).
    if (running := serving_broker(settings.data_dir / "broker")) is not None:
        raise BrokerError(f"Apache Kafka already serves {settings.data_dir / 'broker'} at {running}: use it "
                          f"(ANPR_KAFKA__BOOTSTRAP_SERVERS={running}) or stop the command that started it")
    with embedded_broker(settings, port=args.port) as broker:
        create_topics(broker.bootstrap, {settings.kafka.observations_topic: settings.kafka.partitions,
                                         settings.kafka.cameras_topic: 1}, compacted=[settings.kafka.cameras_topic],
                      client=broker.admin_client)
        # Once "listening" is out, a signal is how this command is meant to end: a clean stop, status 0,
        # even when it comes before the second line is printed.
        try:
            print(f"Apache Kafka {broker.version} listening on {broker.bootstrap}, log in {broker.home}; "
                  "Ctrl-C or SIGTERM stops it", flush=True)
            print(f"  export ANPR_KAFKA__BOOTSTRAP_SERVERS={broker.bootstrap}", flush=True)
            if broker.security is not None:  # clients of this data directory find its CA and passwords
                print("  export ANPR_KAFKA__SECURITY__PROTOCOL=SASL_SSL  (CA and passwords: "
                      f"{broker.ca_file}, {settings.data_dir / 'secrets' / 'kafka'})", flush=True)
            signal.pause()
        except KeyboardInterrupt:
            say("stopping the broker (controlled shutdown)")
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def cmd_run(args: Namespace, settings: Settings) -> int:
    from cli.demo import default_day, run_demo

    day = args.day or default_day()
    if not default_day() - timedelta(days=4) <= day <= default_day():
        say(f"anpr run: --day {day} is out of range: the ingest contract rejects events more than 7 days "
            f"late or in the future; pick a day between {default_day() - timedelta(days=4)} and {default_day()}")
        return 2
    summary = run_demo(settings, day, args.detections, args.seed)
    ok = summary.passages_for_feed == summary.expected_in_scope
    operator_audit.record(release_id=summary.release_id, passages_written=summary.passages_written_now)
    print(f"day                        {summary.day}")
    print(f"detections published       {summary.published:,} "
          f"({summary.duplicates_sent:,} resent duplicates, {summary.quarantined_expected:,} invalid by design)")
    print(f"valid detections           {summary.expected_valid:,} "
          f"({summary.expected_in_scope:,} in scope: company vehicles, vans, trucks, buses, unclassified)")
    print(f"out of scope, only counted {summary.out_of_scope_now:,} (by this run)")
    print(f"passages in Delta for them {summary.passages_for_feed:,} "
          f"({summary.passages_written_now:,} written by this run) {'OK' if ok else 'MISMATCH'}")
    print(f"passages written by        {summary.engine}")
    print(f"release                    {summary.release_id}")
    print(f"rows published (table 4.1) {summary.rows_published:,}")
    print(f"data directory             {settings.data_dir}")
    if not ok:
        return 1
    if args.no_serve:
        return 0
    return cmd_serve_api(args, settings)


def cmd_stream(args: Namespace, settings: Settings) -> int:
    from anpr.lake import make_lake
    from anpr.spark import get_spark
    from anpr.stream_tables import OUT_OF_SCOPE, PASSAGES, QUARANTINE, STREAM_METRICS
    from streaming.job import QUERY_NAME, run_stream

    if args.action == "status":
        from anpr.delta_reader import make_reader
        from anpr.kafka_security import client_config
        from streaming.status import render, stream_status

        # No Spark for a status line: the metrics table is read with delta-rs.
        status = stream_status(make_reader(settings), settings.checkpoint_dir / QUERY_NAME,
                               settings.kafka.bootstrap_servers, settings.kafka.observations_topic, args.last,
                               client_config(settings, "stream"))
        print(render(status))
        return 0

    from cli.demo import with_bootstrap
    from cli.feeds import configured_or_running

    # None is started here, as `anpr feed` does for its own run: a broker the stream started would end with the
    # stream, under every command that found it running meanwhile.
    bootstrap = configured_or_running(settings)
    if bootstrap is None:
        say("no broker configured: start the data directory's broker with `anpr broker` (it keeps what "
            "`anpr feed` published) and set ANPR_KAFKA__BOOTSTRAP_SERVERS to the address it prints")
        return 2
    settings = with_bootstrap(settings, bootstrap)
    spark = get_spark(settings)
    try:
        lake = make_lake(settings, spark)
        run_stream(spark, settings, lake, until_idle=args.until_idle, on_batch=_on_batch,
                   accept_data_loss=args.accept_data_loss)
        operator_audit.record(written={t: lake.version(t) for t in (PASSAGES, QUARANTINE, STREAM_METRICS,
                                                                    OUT_OF_SCOPE)})
    finally:
        spark.stop()
    return 0


def _on_batch(r: BatchReport) -> None:
    say(f"batch {r.batch_id}: {r.rows_in:,} in, {r.passages_written:,} passages")
    operator_audit.record(batches=[{"batch_id": r.batch_id, "rows_in": r.rows_in,
                                    "passages_written": r.passages_written,
                                    "quarantined": sum(r.quarantined.values())}])


def cmd_serve_api(args: Namespace, settings: Settings) -> int:
    from anpr.delta_reader import make_reader
    from api.releases import ReleaseStore
    from api.vendor.main import create_app

    port = getattr(args, "port", None) or settings.api.port
    app = create_app(settings, ReleaseStore(make_reader(settings)))
    tls = server_tls(settings.api.vendor_tls, settings.data_dir, "vendor")
    serve(app, settings.api.host, port,
          f"vendor API listening on {base_url(settings.api.host, port, tls is not None)} "
          f"(docs at /docs, tables at /v1/tables; header X-API-Key; dashboard at /dashboard/#key=<key>); "
          "Ctrl-C stops it", tls, http="httptools")
    return 0


def add_commands(app: typer.Typer) -> None:
    """The commands cli/main.py owns itself: broker, run, stream, serve-api."""

    @app.command("broker", help="run the embedded Apache Kafka broker in the foreground (log in the data dir)")
    def broker(ctx: typer.Context,
               port: Annotated[int, typer.Option("--port", help="loopback port (default: settings, else a free one)")]
               = 0) -> Namespace:
        return call(ctx, cmd_broker, port=port)

    @app.command("run", help="the whole embedded demo: broker, feed, stream, table 4.1, vendor API")
    def run(ctx: typer.Context,
            no_serve: Annotated[bool, typer.Option("--no-serve", help="exit 0 after publishing instead of serving "
                                                                      "the API")] = False,
            day: Annotated[date | None, typer.Option("--day", parser=date.fromisoformat, metavar="DAY",
                                                     help="day of the synthetic feed (default: two days ago)")] = None,
            detections: Annotated[int, typer.Option("--detections", help="approximate detections")] = 63_500,
            seed: Annotated[int, typer.Option("--seed", help="seed of the synthetic feed")] = 7,
            port: Annotated[int, typer.Option("--port", help="API port (default: settings)")] = 0) -> Namespace:
        return call(ctx, cmd_run, no_serve=no_serve, day=day, detections=detections, seed=seed, port=port)

    @app.command("stream", help="stream anpr.observations into Delta passages, or show its status")
    def stream(ctx: typer.Context,
               action: Annotated[Literal["run", "status"],
                                 typer.Argument(help="run (default) the stream, or print lag and the last batches")]
               = "run",
               until_idle: Annotated[bool, typer.Option("--until-idle", help="drain what the topic holds now, "
                                                                             "then stop")] = False,
               last: Annotated[int, typer.Option("--last", help="status: how many recent batches to show")] = 10,
               accept_data_loss: Annotated[bool, typer.Option(
                   "--accept-data-loss", help="the topic was recreated or the broker reset: move the checkpoint "
                                              "aside and read the new topic from its start (what the old topic "
                                              "held past the checkpoint is lost)")] = False) -> Namespace:
        return call(ctx, cmd_stream, action=action, until_idle=until_idle, last=last,
                    accept_data_loss=accept_data_loss)

    @app.command("serve-api", help="serve published releases to vendors")
    def serve_api(ctx: typer.Context,
                  port: Annotated[int, typer.Option("--port", help="port (default: settings, 8080)")] = 0
                  ) -> Namespace:
        return call(ctx, cmd_serve_api, port=port)


def build() -> typer.Typer:
    """The `anpr` command: its own commands, then the groups of EXTENSIONS."""
    app = group("ANPR zero-emission zone statistics platform", no_args_is_help=False,
                context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120})
    add_commands(app)
    for module in EXTENSIONS:
        importlib.import_module(module).add_commands(app)
    return app


def parse(argv: list[str]) -> Namespace | int:
    """The parsed command (`func`, `command` and its options), or the exit status of an answered --help.

    Raises typer.TyperException (a usage error: `format_message()`, `exit_code` 2, `ctx.command_path`) for a
    command line that does not parse.
    """
    result = typer.main.get_command(build()).main(args=argv, prog_name="anpr", standalone_mode=False)
    if isinstance(result, Namespace):
        return result
    return int(result or 0)  # --help: click's Exit(0), returned as a status outside standalone mode


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status. A reader that stops early (`anpr ... | head -1`) ends it quietly."""
    try:
        return _run(argv)
    except BrokenPipeError:
        return _reader_gone()


def _reader_gone() -> int:
    """The exit status of a command whose output nobody reads any more: 141, as if SIGPIPE had ended it
    (Python ignores SIGPIPE and raises BrokenPipeError instead). Further output, including the flush at
    interpreter exit that would print another traceback, goes to /dev/null."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        # A stream without a descriptor (one a test harness put in place) has nothing to redirect.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(devnull, stream.fileno())
    return 128 + signal.SIGPIPE


def _run(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parse(argv)
    except typer.TyperException as exc:  # a usage error (status 2); typer keeps its own class private
        ctx = getattr(exc, "ctx", None)
        path = ctx.command_path if ctx is not None else "anpr"
        say(f"{path}: {exc.format_message()} (see {path} --help)")
        return exc.exit_code
    if isinstance(args, int):
        return args
    try:
        settings = get_settings()
    except ValidationError as exc:
        say(f"anpr: invalid settings: {refusal(exc)}")
        return 2
    except ValueError as exc:
        say(f"anpr: invalid settings: {exc}")
        return 2
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        say(f"anpr: cannot use the data directory {settings.data_dir}: {exc.strerror} (set ANPR_DATA_DIR to a "
            "writable directory)")
        return 2
    setup_logging(settings.log_dir, rotation=settings.logs)
    run = begin(args, argv, settings)
    # What finish() records should _execute itself raise (it catches every Exception of the command).
    code = 1
    cause: str | None = "ended by an unexpected error"
    # SIGTERM (a scheduler or `kill` stopping a command) ends it as Ctrl-C does, so it stops cleanly and
    # its audit row is written; Python's default would end the process on the spot.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with running(run):
            code, cause = _execute(args, settings)
    except BrokenPipeError:
        code, cause = 128 + signal.SIGPIPE, "its output's reader went away"
        raise  # main() ends quietly; not a failure to report
    finally:
        signal.signal(signal.SIGTERM, previous)
        finish(run, code, cause, settings)
        # delta-rs readers freed during interpreter shutdown sometimes abort the process (SIGABRT)
        gc.collect()
    return code


def _execute(args: Namespace, settings: Settings) -> tuple[int, str | None]:
    """The command's exit status and, when it failed, its one-line cause (as printed)."""
    last_said()  # forget what was said before the command
    try:
        code = int(args.func(args, settings))
        return code, (last_said() or f"exit status {code}" if code else None)
    except KeyboardInterrupt:
        say("interrupted")
        return 130, "interrupted (Ctrl-C or SIGTERM)"
    except (BrokerError, JvmError, PortInUseError) as exc:  # their messages are written for operators
        log.info("anpr %s failed", args.command, exc_info=True)  # the file only, with the JVM's stack
        # A busy port is all there is to say; a broker's or JVM's failure has a stack in the log.
        details = "" if isinstance(exc, PortInUseError) else f" (details in {settings.log_dir / 'anpr.log'})"
        say(f"anpr {args.command}: {exc}{details}")
        return 1, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    except BrokenPipeError:
        raise
    except Exception as exc:  # noqa: BLE001 - every other failure: one line here, the traceback in the log
        log.info("anpr %s failed", args.command, exc_info=True)  # the file only: the terminal gets one line
        cause = one_line_cause(exc)
        say(f"anpr {args.command}: {cause} (details in {settings.log_dir / 'anpr.log'})")
        return 1, cause

if __name__ == "__main__":
    sys.exit(main())
