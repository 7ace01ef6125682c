"""How an area declares its `anpr` subcommands (typer), shared by cli/ and jobs/ so each owns its group.

A typer callback only parses: it returns `call(ctx, handler, **options)`, and cli/main.py runs
`handler(args, settings) -> exit status` inside what every command shares (settings, the operator
audit row, SIGTERM, one-line errors). Parsing thus never starts work, and a handler stays callable
from tests with a plain `argparse.Namespace`.
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from anpr.settings import Settings

Handler = Callable[[Namespace, "Settings"], int]


def group(help: str, **settings: Any) -> typer.Typer:
    """A typer app for a command group; help text is plain (no rich markup: `[--from, --to]` is text)."""
    return typer.Typer(help=help, rich_markup_mode=None, add_completion=False, **settings)


def call(ctx: typer.Context, handler: Handler, **options: Any) -> Namespace:
    """The parsed command: `options` as attributes, plus `func` (the handler) and `command`, its name
    as operators type it ("stats", "register load"; a positional `action` is added by the audit)."""
    return Namespace(func=handler, command=ctx.command_path.partition(" ")[2], **options)
