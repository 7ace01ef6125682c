"""The register load: the stage that writes the register's Delta tables (register/vehicles, owners,
companies, regions, exemptions, loads), from RDW exports and the non-public files or from the
synthetic register.

    csv_reader.py  register CSV files -> pseudonymized Arrow tables (plates keyed as they are read)
    checks.py      the row checks the reader rejects by, each counted under its reason with its lines
    history.py     incoming rows -> changes to the tables' validity intervals, history never rewritten
    synthetic.py   the synthetic register (anpr/synth/register.py) as the same pseudonymized tables
    load.py        the job: reads, checks order against register/loads, commits one table at a time
    cli.py         `anpr register load|synth` (and the file options `anpr keys rotate` shares)

The tables' names and schemas are not here but in anpr/register_tables.py, with the register's
derivation settings (anpr/register_conf.py) and the stream's lookup snapshot (anpr/register_snapshot.py):
the stream reads the tables, and `streaming` and `jobs` may not import each other (docs/architecture.md),
so what both sides need lives in the shared core below them.

Other jobs, the commands and the benchmarks use the names below; `anpr keys rotate` also shares cli.py's
file options. The rest of the modules are this package's own.
"""

from jobs.register.load import (
    REGISTER_TABLES,
    DuplicateKeysError,
    LoadReport,
    RegisterConflictError,
    RegisterFiles,
    current_loads,
    load_register_files,
    load_synthetic_register,
)

__all__ = ["REGISTER_TABLES", "DuplicateKeysError", "LoadReport", "RegisterConflictError", "RegisterFiles",
           "current_loads", "load_register_files", "load_synthetic_register"]
