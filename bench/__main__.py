"""`make bench`: run benchmarks, print them and write bench/results/<name>.json.

Usage: python -m bench [NAME ...]   (default: all)
"""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import api_load, ingest, lake_append, pipeline, pseudonymize, register_load, stats

BENCHMARKS = {"lake_append": lake_append.run, "api_load": api_load.run,
              "ingest": ingest.run, "register_load": register_load.run, "stats": stats.run,
              "stats_cluster": stats.run_cluster, "stats_build": stats.run_build,
              "pipeline": pipeline.run, "pseudonymize": pseudonymize.run}
RESULTS = Path(__file__).parent / "results"


def main(names: list[str]) -> int:
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        print(f"unknown benchmark(s) {sorted(unknown)}; choose from {sorted(BENCHMARKS)}", file=sys.stderr)
        return 2
    RESULTS.mkdir(exist_ok=True)
    for name in names or list(BENCHMARKS):
        print(f"==> {name}", file=sys.stderr, flush=True)
        result = BENCHMARKS[name]()
        result.update(benchmark=name, at=datetime.now(UTC).isoformat(timespec="seconds"),
                      machine={"cpus": __import__("os").cpu_count(), "python": platform.python_version()})
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
