"""Placeholder; replaced by the real command."""

import typer


def register(app: typer.Typer) -> None:
    pass
