"""`anpr keys`: the peppers this machine holds, their rotation and their destruction (jobs/keys.py).

    anpr keys list
    anpr keys rotate [--vehicles CSV --fuel CSV --body CSV ... --as-of DATE [--complete]]
    anpr keys destroy PEPPER_ID

The procedure and why each step is ordered so: docs/privacy.md, key rotation.
"""

from __future__ import annotations

from argparse import Namespace
from typing import Annotated

import typer

from anpr import operator_audit
from anpr.commands import call, group
from anpr.keyring import KeyringError, Pepper
from anpr.progress import say, step
from anpr.settings import Settings
from jobs.register.cli import (
    FILES,
    AsOfIfFiles,
    BodyCsv,
    CompaniesCsv,
    Complete,
    ExemptionsCsv,
    FuelCsv,
    OwnersCsv,
    RegionsCsv,
    VehiclesCsv,
    close_session,
    given_files,
    open_lake,
    progress_printer,
)


def cmd_list(args: Namespace, settings: Settings) -> int:
    from jobs.keys import passages_by_pepper
    from jobs.register import current_loads

    lake, spark = open_lake(settings)
    try:
        keyring = settings.keyring()
        try:
            active: str | None = keyring.active(current_loads(lake)).id
        except KeyringError as exc:
            say(f"anpr keys list: {exc}")
            active = None
        kept = passages_by_pepper(lake)
    finally:
        close_session(spark)
    peppers = keyring.peppers()
    print(f"{'pepper_id':18} {'in use':7} {'kind':12} {'kept passages':>14}")
    for pid, pepper in peppers.items():
        n = kept.get(pid, 0) + (kept.get(None, 0) if pepper.configured else 0)
        print(f"{pid:18} {'yes' if pid == active else '':7} {'configured' if pepper.configured else 'keyring':12} "
              f"{n:>14,}")
    for gone in sorted(k for k in kept if k is not None and k not in peppers):
        print(f"{gone:18} {'':7} {'not held':12} {kept[gone]:>14,}")
    return 0


def cmd_rotate(args: Namespace, settings: Settings) -> int:
    from jobs.keys import rotate, synthetic_source
    from jobs.register import (
        RegisterConflictError,
        RegisterFiles,
        current_loads,
        load_register_files,
        load_synthetic_register,
    )

    given, absent = given_files(args)
    if settings.profile == "cluster" and settings.keyring_dir is None:
        say("anpr keys rotate: set ANPR_KEYRING_DIR to the keyring folder mounted on every node")
        return 2
    if absent:
        say(f"anpr keys rotate: no such file: {', '.join(absent)}")
        return 2
    lake, spark = open_lake(settings)
    try:
        synthetic = synthetic_source(lake)
        if current_loads(lake).num_rows == 0:
            say("anpr keys rotate: the register is empty, so no key was derived yet: set the new pepper as "
                "ANPR_PEPPER (or ANPR_PEPPER_FILE) before the first load instead")
            return 2
        if synthetic is None and not (args.vehicles and args.fuel and args.body and args.as_of):
            say("anpr keys rotate: the register was loaded from files: give the current ones (at least --vehicles, "
                "--fuel, --body and --as-of, as for `anpr register load`) to load it again under the new pepper")
            return 2

        def reload(pepper: Pepper) -> object:
            if synthetic is not None and not given:
                size, seed = synthetic
                return load_synthetic_register(lake, settings, size, seed, progress=progress_printer(), rekey=pepper)
            files = RegisterFiles(**{name: getattr(args, name) for name in FILES})
            return load_register_files(lake, settings, files, args.as_of, close_missing=args.complete,
                                       progress=progress_printer(), rekey=pepper)

        with step("new pepper; register re-keyed under it (the stream holds its batches until this ends)"):
            done = rotate(lake, settings, reload, synthetic=synthetic is not None and not given)
        operator_audit.record(old_pepper_id=done.old, new_pepper_id=done.new, abandoned_pepper_id=done.abandoned)
    except (KeyringError, RegisterConflictError) as exc:
        say(f"anpr keys rotate: {exc}")
        return 2
    finally:
        close_session(spark)
    if done.abandoned:
        print(f"destroyed pepper {done.abandoned} of an interrupted rotation (nothing was derived with it)")
    print(f"pepper {done.new} now makes the register's keys (was {done.old}); the stream switches at its next batch")
    if done.old is not None and settings.keyring().get(done.old).configured:
        print("once retention removed the passages the old pepper made (anpr keys list), remove it from "
              "ANPR_PEPPER / ANPR_PEPPER_FILE")
    elif done.old is not None:
        print(f"once retention removed the passages it made (anpr keys list): anpr keys destroy {done.old}")
    return 0


def cmd_destroy(args: Namespace, settings: Settings) -> int:
    from jobs.keys import destroy

    lake, spark = open_lake(settings)
    try:
        path = destroy(lake, settings, args.pepper_id)
    except KeyringError as exc:
        say(f"anpr keys destroy: {exc}")
        return 2
    finally:
        close_session(spark)
    operator_audit.record(destroyed_pepper_id=args.pepper_id)
    print(f"pepper {args.pepper_id} destroyed ({path} removed)")
    return 0


def add_commands(app: typer.Typer) -> None:
    keys = group(__doc__.replace("\n\n    anpr", "\n\n\b\n    anpr", 1),
                 short_help="pepper versions: list, rotate, destroy (docs/privacy.md)")

    @keys.command("list", help="the peppers held, which one is in use, and the kept passages each made")
    def list_(ctx: typer.Context) -> Namespace:
        return call(ctx, cmd_list)

    @keys.command("rotate", short_help="make a new pepper and re-key the register under it; the stream follows",
                  help="Make a new pepper and re-key the register under it; the stream follows. A synthetic "
                       "register is loaded again with its size and seed; a register loaded from files needs the "
                       "current files, as for `anpr register load`.")
    def rotate(ctx: typer.Context, as_of: AsOfIfFiles = None, vehicles: VehiclesCsv = None, fuel: FuelCsv = None,
               body: BodyCsv = None, owners: OwnersCsv = None, companies: CompaniesCsv = None,
               regions: RegionsCsv = None, exemptions: ExemptionsCsv = None, complete: Complete = False) -> Namespace:
        return call(ctx, cmd_rotate, vehicles=vehicles, fuel=fuel, body=body, owners=owners, companies=companies,
                    regions=regions, exemptions=exemptions, as_of=as_of, complete=complete)

    @keys.command("destroy", help="delete a rotated-out pepper once no kept passage was made with it")
    def destroy(ctx: typer.Context, pepper_id: Annotated[str, typer.Argument(metavar="PEPPER_ID")]) -> Namespace:
        return call(ctx, cmd_destroy, pepper_id=pepper_id)

    app.add_typer(keys, name="keys")
