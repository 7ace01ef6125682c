"""The freshness bench's producer process: its end or failure is reported, never waited for forever."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from bench.pipeline import _receive


def _exits(conn, code: int) -> None:
    os._exit(code)


def _fails(conn, code: int) -> None:
    conn.send("failed: DeliveryError")


def _reports(conn, code: int) -> None:
    conn.send({"sent": 3})


def _started(target, code: int = 0):
    context = multiprocessing.get_context("fork")
    conn, child = context.Pipe()
    process = context.Process(target=target, args=(child, code), daemon=True)
    process.start()
    child.close()
    return conn, process


def test_a_producer_that_ended_without_a_word_is_an_error_naming_its_exit_code():
    conn, process = _started(_exits, 3)
    with pytest.raises(RuntimeError, match=r"ended \(exit code 3\) before its feed was ready"):
        _receive(conn, process, 30, "its feed was ready")


def test_a_failed_producer_is_an_error_naming_the_failure():
    conn, process = _started(_fails)
    with pytest.raises(RuntimeError, match="failed: DeliveryError, before it had sent the feed"):
        _receive(conn, process, 30, "it had sent the feed")


def test_a_report_comes_back_as_sent():
    conn, process = _started(_reports)
    assert _receive(conn, process, 30, "it had sent the feed") == {"sent": 3}
    process.join(10)
