"""`anpr stream status`: consumer lag from the checkpoint and the broker, and the last batches."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from kafka.errors import KafkaError

from anpr.broker import high_watermarks, topic_ids
from anpr.delta_reader import DeltaReader
from anpr.lake import Lake
from anpr.stream_tables import STREAM_METRICS
from streaming.source import broker_unreachable
from streaming.topics import mismatches, recorded_ids


@dataclass
class StreamStatus:
    committed: dict[str, dict[str, int]]  # topic -> partition -> next offset, from the last committed batch
    ends: dict[str, dict[str, int]] | None  # same shape, from the broker; None when not asked or unreachable
    last_batches: pd.DataFrame
    broker_error: str | None = None  # one line: why the broker's end offsets are unknown

    @property
    def lag(self) -> int | None:
        if self.ends is None:
            return None
        return sum(end - self.committed.get(topic, {}).get(part, 0)
                   for topic, parts in self.ends.items() for part, end in parts.items())


def committed_offsets(checkpoint: Path) -> dict[str, dict[str, int]]:
    """Source offsets of the newest batch Spark has committed (offsets/N for the last commits/N)."""
    commits = checkpoint / "commits"
    done = sorted((int(p.name) for p in commits.iterdir() if p.name.isdigit()), reverse=True) \
        if commits.exists() else []
    if not done:
        return {}
    lines = (checkpoint / "offsets" / str(done[0])).read_text().splitlines()
    return dict(json.loads(lines[2]))  # line 0: version, 1: batch metadata, 2: our source


def last_batches(lake: Lake | DeltaReader, limit: int) -> pd.DataFrame:
    if not lake.exists(STREAM_METRICS):
        return pd.DataFrame()
    columns = ["batch_id", "finished_at", "duration_ms", "rows_in", "passages_written", "duplicates",
               "double_reads", "out_of_scope", "ambiguous_plates", "quarantined", "register_hit_rate", "query_id"]
    # A table the stream has not started on since out_of_scope was added lacks it (the stream adds it).
    schema = lake.schema(STREAM_METRICS) if isinstance(lake, DeltaReader) else lake.state(STREAM_METRICS).schema
    columns = [c for c in columns if c in schema.fieldNames()]
    frame = lake.read_arrow(STREAM_METRICS, columns=columns).to_pandas()
    return frame.sort_values("finished_at").tail(limit).reset_index(drop=True)


def stream_status(lake: Lake | DeltaReader, checkpoint: Path, bootstrap: str | None, topic: str,
                  limit: int = 10, client: Mapping[str, object] | None = None,
                  timeout_ms: int = 5_000) -> StreamStatus:
    """Lag and the last batches; the batches come from Delta, so they show even with the broker down.
    client: kafka-python security arguments (anpr/kafka_security.py client_config) for the broker;
    timeout_ms: how long each broker question may wait before the broker counts as unreachable."""
    ends, error = None, None
    if bootstrap:
        try:
            changed = mismatches(recorded_ids(checkpoint), topic_ids(bootstrap, [topic], timeout_ms, client=client))
            if changed:
                error = (f"topic {', '.join(changed)} is not the one the checkpoint read (deleted and created "
                         "again, or a reset broker); `anpr stream --accept-data-loss` starts over on it")
            else:
                ends = {topic: {str(p): end for p, end in
                                high_watermarks(bootstrap, topic, timeout_ms, client=client).items()}}
        except KafkaError as exc:
            # The cluster profile's likelier causes (a CA file, a password) are named beside the embedded hint.
            error = str(broker_unreachable(bootstrap, f"({type(exc).__name__})"))
    return StreamStatus(committed_offsets(checkpoint), ends, last_batches(lake, limit), error)


def render(status: StreamStatus) -> str:
    lines = []
    lag = status.lag
    if lag is not None:
        lines.append(f"consumer lag: {lag:,} messages")
    else:
        lines.append(f"consumer lag: unknown ({status.broker_error or 'no broker configured'})")
    for topic, parts in sorted(status.committed.items()):
        ordered = sorted(parts.items(), key=lambda x: int(x[0]))
        lines.append(f"committed {topic}: " + ", ".join(f"{p}@{o}" for p, o in ordered))
    if status.last_batches.empty:
        lines.append("no batches recorded yet")
    else:
        view = status.last_batches.drop(columns=["query_id"]).copy()
        view["register_hit_rate"] = view["register_hit_rate"].map(lambda r: "" if pd.isna(r) else f"{r:.1%}")
        lines.append(view.to_string(index=False))
    return "\n".join(lines)
