"""A Spark standalone cluster on this machine (a master and workers, each its own JVM), from pyspark's launcher.

For tests and benchmarks of the distributed path: the same code the cluster profile runs, with
`spark://` as master, executors in separate JVMs and Python workers started by them.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from anpr.broker import _die_with_parent, free_port


class ClusterError(RuntimeError):
    pass


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


@dataclass
class StandaloneCluster:
    """`workers` workers of `cores` cores and `memory` each; logs and work dirs under `home`."""

    home: Path
    workers: int = 2
    cores: int = 1
    memory: str = "2g"
    port: int = 0
    ui_port: int = 0
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def master_url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    def _launch(self, name: str, *args: str) -> None:
        env = {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": "127.0.0.1",
               "SPARK_WORKER_DIR": str(self.home / "work"), "SPARK_LOG_DIR": str(self.home / "logs")}
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.processes.append(subprocess.Popen(
            [str(spark_home() / "bin" / "spark-class"), *args], env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
        ))
        log.close()

    def start(self, timeout: float = 90.0) -> StandaloneCluster:
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self.ui_port = self.ui_port or free_port()
        self._launch("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                     "--port", str(self.port), "--webui-port", str(self.ui_port))
        for i in range(self.workers):
            self._launch(f"worker-{i}", "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                         "--cores", str(self.cores), "--memory", self.memory, "--webui-port", str(free_port()),
                         "--work-dir", str(self.home / "work"), self.master_url)
        try:
            self._wait_for_workers(timeout)
        except ClusterError:
            self.stop()
            raise
        return self

    def alive_workers(self) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=2) as answer:
            state = json.load(answer)
        return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")

    def _wait_for_workers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [p for p in self.processes if p.poll() is not None]
            if dead:
                raise ClusterError(f"a Spark daemon exited with {dead[0].returncode}; see {self.home}/*.log")
            with suppress(OSError, ValueError):
                if self.alive_workers() == self.workers:
                    return
            time.sleep(0.5)
        raise ClusterError(f"{self.workers} workers did not register with the master within {timeout:.0f}s")

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    def __enter__(self) -> StandaloneCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
