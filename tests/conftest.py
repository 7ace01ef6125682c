from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("ANPR_PROFILE", "local")


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("anpr-session")


@pytest.fixture(scope="session")
def settings(session_dir: Path):
    from anpr.settings import Settings

    return Settings(
        data_dir=session_dir / "data",
        spark={"master": "local[2]", "shuffle_partitions": 2, "ui_enabled": False, "driver_memory": "2g"},
    )


@pytest.fixture(scope="session")
def spark(settings) -> Iterator:
    from anpr.spark import get_spark

    session = get_spark(settings)
    yield session
    session.stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator:
    from anpr.broker import EmbeddedBroker

    with EmbeddedBroker(tmp_path / "broker-logs") as b:
        yield b
