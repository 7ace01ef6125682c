"""`anpr keys`: the peppers this machine holds, their rotation and their destruction (jobs/keys.py).

    anpr keys list
    anpr keys rotate [--vehicles CSV --fuel CSV --body CSV ... --as-of DATE [--complete]]
    anpr keys destroy PEPPER_ID

The procedure and why each step is ordered so: docs/privacy.md, key rotation.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Any

from anpr import operator_audit
from anpr.keyring import KeyringError, Pepper
from anpr.progress import say, step
from anpr.settings import Settings
from jobs.register_cli import FILES, HELP, _close, _lake, _progress


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from jobs.keys import passages_by_pepper
    from jobs.register import current_loads

    lake, spark = _lake(settings)
    try:
        keyring = settings.keyring()
        try:
            active: str | None = keyring.active(current_loads(lake)).id
        except KeyringError as exc:
            say(f"anpr keys list: {exc}")
            active = None
        kept = passages_by_pepper(lake)
    finally:
        _close(spark)
    peppers = keyring.peppers()
    print(f"{'pepper_id':18} {'in use':7} {'kind':12} {'kept passages':>14}")
    for pid, pepper in peppers.items():
        n = kept.get(pid, 0) + (kept.get(None, 0) if pepper.configured else 0)
        print(f"{pid:18} {'yes' if pid == active else '':7} {'configured' if pepper.configured else 'keyring':12} "
              f"{n:>14,}")
    for gone in sorted(k for k in kept if k is not None and k not in peppers):
        print(f"{gone:18} {'':7} {'not held':12} {kept[gone]:>14,}")
    return 0


def cmd_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from jobs.keys import rotate, synthetic_source
    from jobs.register import RegisterConflictError, RegisterFiles, load_register_files, load_synthetic_register

    given = [name for name in FILES if getattr(args, name) is not None]
    if settings.profile == "cluster" and settings.keyring_dir is None:
        say("anpr keys rotate: set ANPR_KEYRING_DIR to the keyring folder mounted on every node")
        return 2
    absent = [str(getattr(args, name)) for name in given if not getattr(args, name).is_file()]
    if absent:
        say(f"anpr keys rotate: no such file: {', '.join(absent)}")
        return 2
    lake, spark = _lake(settings)
    try:
        synthetic = synthetic_source(lake)
        if synthetic is None and not (args.vehicles and args.fuel and args.body and args.as_of):
            say("anpr keys rotate: the register was loaded from files: give the current ones (at least --vehicles, "
                "--fuel, --body and --as-of, as for `anpr register load`) to load it again under the new pepper")
            return 2

        def reload(pepper: Pepper) -> object:
            if synthetic is not None and not given:
                size, seed = synthetic
                return load_synthetic_register(lake, settings, size, seed, progress=_progress(), rekey=pepper)
            files = RegisterFiles(**{name: getattr(args, name) for name in FILES})
            return load_register_files(lake, settings, files, args.as_of, close_missing=args.complete,
                                       progress=_progress(), rekey=pepper)

        with step("new pepper; register re-keyed under it (the stream holds its batches until this ends)"):
            done = rotate(lake, settings, reload, synthetic=synthetic is not None and not given)
        operator_audit.record(old_pepper_id=done.old, new_pepper_id=done.new, abandoned_pepper_id=done.abandoned)
    except (KeyringError, RegisterConflictError) as exc:
        say(f"anpr keys rotate: {exc}")
        return 2
    finally:
        _close(spark)
    if done.abandoned:
        print(f"destroyed pepper {done.abandoned} of an interrupted rotation (nothing was derived with it)")
    print(f"pepper {done.new} now makes the register's keys (was {done.old or 'none'}); the stream switches at "
          "its next batch. Destroy the old pepper once retention removed its passages: anpr keys destroy "
          f"{done.old or ''}".rstrip())
    return 0


def cmd_destroy(args: argparse.Namespace, settings: Settings) -> int:
    from jobs.keys import destroy

    lake, spark = _lake(settings)
    try:
        path = destroy(lake, settings, args.pepper_id)
    except KeyringError as exc:
        say(f"anpr keys destroy: {exc}")
        return 2
    finally:
        _close(spark)
    operator_audit.record(destroyed_pepper_id=args.pepper_id)
    print(f"pepper {args.pepper_id} destroyed ({path} removed)")
    return 0


def add_commands(sub: Any) -> None:  # argparse's _SubParsersAction is private
    group = sub.add_parser("keys", help="pepper versions: list, rotate, destroy (docs/privacy.md)",
                           description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = group.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    actions.add_parser("list", help="the peppers held, which one is in use, and the kept passages each made"
                       ).set_defaults(func=cmd_list)
    rotate = actions.add_parser(
        "rotate", help="make a new pepper and re-key the register under it; the stream follows",
        description="A synthetic register is loaded again with its size and seed; a register loaded from files "
                    "needs the current files, as for `anpr register load`.")
    for name in FILES:
        rotate.add_argument(f"--{name}", type=Path, metavar="CSV", help=HELP[name])
    rotate.add_argument("--as-of", type=date.fromisoformat, metavar="DATE", help="the date the files describe")
    rotate.add_argument("--complete", action="store_true", help="as for `anpr register load`")
    rotate.set_defaults(func=cmd_rotate)
    destroy = actions.add_parser("destroy", help="delete a rotated-out pepper once no kept passage was made with it")
    destroy.add_argument("pepper_id")
    destroy.set_defaults(func=cmd_destroy)
