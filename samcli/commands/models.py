"""``samcli models list | download NAME... | path NAME``: the weight cache.

Data (the table, JSON, paths) goes to stdout; progress bars and notes go to stderr.
Downloads report through :func:`samcli.console.download_progress`.
"""

from __future__ import annotations

import json
import sys

import typer

from samcli.commands._common import guarded, stderr_console
from samcli.console import download_progress, human_bytes
from samcli.errors import CheckpointError
from samcli.model.cache import cached_path, is_cached
from samcli.model.download import download
from samcli.model.specs import DEFAULT_MODEL, MODELS, get_spec, model_names

models_app = typer.Typer(
    name="models",
    help="List, download and locate model weights (cached in $SAMCLI_HOME, else "
    "$XDG_CACHE_HOME/samcli, else ~/.cache/samcli).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@models_app.command("list")
@guarded
def list_models(
    as_json: bool = typer.Option(
        False, "--json", help="Print a JSON array (name, file, url, size, sha256, cached, path)."
    ),
) -> None:
    """List the known models, their size, and whether their weights are cached."""
    rows = []
    for name in model_names():
        spec = get_spec(name)
        rows.append(
            {
                "name": spec.name,
                "filename": spec.filename,
                "url": spec.url,
                "size_bytes": spec.size_bytes,
                "sha256": spec.sha256,
                "cached": is_cached(name),
                "path": str(cached_path(name)),
                "description": spec.description,
            }
        )
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = [("NAME", "SIZE", "CACHED", "PATH")]
    for row in rows:
        table.append(
            (
                row["name"] + (" (default)" if row["name"] == DEFAULT_MODEL else ""),
                human_bytes(row["size_bytes"]),
                "yes" if row["cached"] else "no",
                row["path"],
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(3)]
    for r in table:
        sys.stdout.write(
            "  ".join(cell.ljust(w) for cell, w in zip(r[:3], widths)) + "  " + r[3] + "\n"
        )


@models_app.command("download")
@guarded
def download_models(
    names: list[str] = typer.Argument(
        ...,
        help=f"Model name(s): {', '.join(MODELS)}.",
        metavar="NAME",
        show_default=False,
    ),
    force: bool = typer.Option(
        False, "--force", "-f", help="Download again even when the weights are already cached."
    ),
) -> None:
    """Download model weights into the cache (verified, then moved into place); print the path."""
    specs = [get_spec(name) for name in names]  # every name checked before any work
    console = stderr_console()
    for spec in specs:
        if is_cached(spec.name) and not force:
            console.print(f"{spec.name} is already cached (use --force to download it again).")
            path = cached_path(spec.name)
        else:
            with download_progress(f"{spec.name} weights from {spec.url}") as callback:
                path = download(spec.name, progress=callback)
        sys.stdout.write(f"{path}\n")
        sys.stdout.flush()


@models_app.command("path")
@guarded
def model_path(
    name: str = typer.Argument(
        ...,
        help=f"Model name: {', '.join(MODELS)}.",
        metavar="NAME",
        show_default=False,
    ),
    check: bool = typer.Option(
        False,
        "--check",
        help="Exit 1 (printing nothing on stdout) when the weights are not in the cache.",
    ),
) -> None:
    """Print where the weights of NAME live in the cache (whether or not they are there yet)."""
    spec = get_spec(name)
    path = cached_path(spec.name)
    if check and not is_cached(spec.name):
        raise CheckpointError(
            f"{spec.name} weights are not in the cache ({path}); run "
            f"`samcli models download {spec.name}`."
        )
    sys.stdout.write(f"{path}\n")


def register(app: typer.Typer) -> None:
    """Add the ``models`` sub-app to the main app."""
    app.add_typer(models_app, name="models")
