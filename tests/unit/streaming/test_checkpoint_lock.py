"""One stream per checkpoint: a second is refused in one line, before it reads or writes anything."""

from __future__ import annotations

import pytest

from streaming.job import StreamAlreadyRunning, checkpoint_lock


def test_a_second_stream_on_a_held_checkpoint_is_refused_and_the_next_one_runs(tmp_path):
    checkpoint = tmp_path / "checkpoints" / "passages"
    with checkpoint_lock(checkpoint):
        with pytest.raises(StreamAlreadyRunning, match="another stream runs on checkpoint .*passages"), \
                checkpoint_lock(checkpoint):
            pass
        with checkpoint_lock(tmp_path / "checkpoints" / "other"):  # another query's checkpoint is its own
            pass
    with checkpoint_lock(checkpoint):  # let go when the first ended
        pass
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["other.lock", "passages.lock"]
