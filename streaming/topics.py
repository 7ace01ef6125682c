"""Which Kafka topics a stream checkpoint was built on, so offsets never silently name other records.

Spark's checkpoint keeps offsets per topic name. A topic deleted and created again, or a broker whose
storage was reset, reuses the name and restarts at offset 0; once refilled past the checkpoint, the
query would resume in the middle of records it never read and skip the rest without a word
(`failOnDataLoss` only sees offsets that went backwards). Kafka gives each topic a new id when it is
created, so the checkpoint records the ids it read (`topics.json` beside Spark's own files) and every
start, and every micro-batch, compares them with the broker's.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from kafka.errors import KafkaError

log = logging.getLogger(__name__)
IDS_FILE = "topics.json"


class TopicIdentityError(RuntimeError):
    """The topic a checkpoint read is not the topic of that name on the broker now."""


def has_progress(checkpoint: Path) -> bool:
    """Whether Spark committed at least one batch in this checkpoint."""
    commits = checkpoint / "commits"
    return commits.is_dir() and any(p.name.isdigit() for p in commits.iterdir())


def recorded_ids(checkpoint: Path) -> dict[str, str | None]:
    path = checkpoint / IDS_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def mismatches(recorded: Mapping[str, str | None], current: Mapping[str, str | None]) -> list[str]:
    """One phrase per topic whose id changed; topics the checkpoint has no id for are not judged."""
    return [f"{name} (id {recorded[name]}, now {current.get(name) or 'missing'})"
            for name in sorted(recorded) if name in current and recorded[name] and recorded[name] != current[name]]


def identity_error(checkpoint: Path, changed: list[str]) -> TopicIdentityError:
    log.info("checkpoint %s was built on other topics than the broker has now: %s", checkpoint, changed)
    return TopicIdentityError(
        f"topic {', '.join(changed)} is not the one the stream's checkpoint read (deleted and created again, "
        "or a reset broker), so its offsets name other records; nothing was read. `anpr stream "
        "--accept-data-loss` moves the checkpoint aside and reads the new topic from its start"
    )


def check_topic_identity(checkpoint: Path, current: Mapping[str, str | None], accept_loss: bool = False) -> None:
    """Compare the topic ids a checkpoint was built on with the broker's, before a query starts.

    current: topic name -> id now (None: the topic does not exist yet). A checkpoint without progress
    simply records the current ids. On a mismatch with accept_loss the old checkpoint is renamed to
    `<name>.lost-<UTC time>` (kept for inspection, never deleted) and the query starts afresh.

    Raises TopicIdentityError on a mismatch without accept_loss.
    """
    changed = mismatches(recorded_ids(checkpoint), current) if has_progress(checkpoint) else []
    if changed and not accept_loss:
        raise identity_error(checkpoint, changed)
    if changed:
        aside = checkpoint.with_name(f"{checkpoint.name}.lost-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
        shutil.move(checkpoint, aside)
        log.warning("data loss accepted for %s: checkpoint moved to %s; reading the new topic from its start",
                    ", ".join(changed), aside)
    known = {**recorded_ids(checkpoint), **{k: v for k, v in current.items() if v}}
    checkpoint.mkdir(parents=True, exist_ok=True)
    (checkpoint / IDS_FILE).write_text(json.dumps(known, sort_keys=True))


def batch_guard(checkpoint: Path, fetch: Callable[[], Mapping[str, str | None]]) -> Callable[[], None]:
    """A check for the sink to run before each micro-batch's first write.

    fetch returns the broker's ids now; if it fails (broker briefly away) the batch goes on, since its
    records were just read from that broker. Raises TopicIdentityError on a changed id, so the batch
    is not committed and the next start reports it.
    """
    def guard() -> None:
        try:
            current = fetch()
        except KafkaError as exc:
            log.warning("topic ids not checked for this batch: %s", type(exc).__name__)
            return
        changed = mismatches(recorded_ids(checkpoint), current)
        if changed:
            raise identity_error(checkpoint, changed)
    return guard
