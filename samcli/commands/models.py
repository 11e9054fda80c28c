"""``samcli models list | download NAME... | path NAME``: the weight cache.

Data (the table, JSON, paths) goes to stdout; progress bars and notes go to stderr.
Downloads report through :func:`samcli.console.download_progress`.
"""

from __future__ import annotations

import json
import os
import sys

import typer

from samcli.commands._common import fail, guarded
from samcli.console import download_progress, human_bytes, stderr_console, warn
from samcli.errors import CheckpointError, SamcliError
from samcli.model.cache import (cache_dir, cache_state, cached_path, is_verified,
                                verify_cached)
from samcli.model.download import download
from samcli.model.specs import DEFAULT_MODEL, MODELS, ModelSpec, get_spec, model_names

models_app = typer.Typer(
    name="models",
    help="List, download and locate model weights (cached in $SAMCLI_HOME, else "
    "$XDG_CACHE_HOME/samcli, else ~/.cache/samcli).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _warn_if_cache_is_not_a_folder() -> None:
    """``list`` and ``path`` print where weights would go; when something other than a folder
    is there, downloads cannot work: say so (stderr) instead of letting the paths look fine."""
    folder = cache_dir()
    # the folder, or the nearest of the folders above it that exists
    there = next((p for p in (folder, *folder.parents) if os.path.lexists(p)), None)
    if there is None or there.is_dir():
        return
    if there == folder:
        warn(f"the model cache folder {folder} is not a folder: downloads will fail there. "
             "Set SAMCLI_HOME to a folder.")
    else:
        warn(f"the model cache folder {folder} cannot be made: {there} is not a folder, so "
             "downloads will fail there. Set SAMCLI_HOME to a folder.")


#: How `models list` shows each cache state (see samcli.model.cache.cache_state).
_CACHED_COLUMN = {
    "cached": "yes",
    "missing": "no",
    "wrong size": "damaged (size)",
    "wrong sha256": "damaged (SHA-256)",
}


@models_app.command("list")
@guarded
def list_models(
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print a JSON array, one object per model (name, filename, url, size_bytes, sha256, "
        "cached, path, description, status, verified).",
    ),
) -> None:
    """List the known models, their size, and whether their weights are cached.

    CACHED is "yes" for a file of the official size (its SHA-256 is checked
    on first use), "damaged (size)" or "damaged (SHA-256)" for a file known
    not to be the official one (`samcli models download NAME` replaces it),
    "no" when there is none. Nothing is hashed.
    """
    _warn_if_cache_is_not_a_folder()
    rows = []
    for name in model_names():
        spec = get_spec(name)
        state = cache_state(name)
        rows.append(
            {
                "name": spec.name,
                "filename": spec.filename,
                "url": spec.url,
                "size_bytes": spec.size_bytes,
                "sha256": spec.sha256,
                "cached": state == "cached",
                "path": str(cached_path(name)),
                "description": spec.description,
                "status": state,
                "verified": state == "cached" and is_verified(name),
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
                _CACHED_COLUMN[row["status"]],
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
        metavar="NAME...",
        show_default=False,
    ),
    force: bool = typer.Option(
        False, "--force", "-f", help="Download again even when the weights are already cached."
    ),
) -> None:
    """Download model weights into the cache (verified, then moved into place).

    Prints each file's path. Weights already cached are checked (size, and
    SHA-256 once per file) and kept when they are the official file; a
    damaged or replaced file is downloaded again. Every name is checked
    before any download (an unknown one is a usage error, exit 2); with
    several names, one that fails to download is reported and the others
    are still fetched (exit 1 at the end).
    """
    specs = [get_spec(name) for name in names]  # every name checked before any work
    failed: list[SamcliError] = []
    for spec in specs:
        try:
            _download_one(spec, force)
        except SamcliError as exc:  # the others are still fetched; the run fails at the end
            if len(specs) == 1:
                raise
            fail(str(exc), exc.exit_code)
            failed.append(exc)
    if failed:
        raise fail(f"{len(failed)} of {len(specs)} models could not be downloaded (see above)",
                   max(exc.exit_code for exc in failed))


def _download_one(spec: ModelSpec, force: bool) -> None:
    """``models download`` of one model: kept when the cache holds the official file, else
    fetched; its path printed on stdout."""
    console = stderr_console()
    path = cached_path(spec.name)
    state = cache_state(spec.name)
    kept = False
    if state != "missing" and not force:
        if state == "cached" and spec.sha256 and not is_verified(spec.name):
            console.print(f"Checking the SHA-256 of {path} (once per file)...", markup=False)
        try:
            path = verify_cached(spec.name)
            kept = True
        except CheckpointError:
            console.print(
                f"{path} is not the official {spec.name} file; downloading it again.",
                markup=False,
            )
    if kept:
        console.print(f"{spec.name} is already cached (use --force to download it again).")
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
        help="Exit 1 (printing nothing on stdout) when the weights are not in the cache or "
        "are known to be damaged (the wrong size, or a SHA-256 on record that is not the "
        "official one; nothing is hashed).",
    ),
) -> None:
    """Print where the weights of NAME live in the cache.

    The path is printed whether or not the file is there yet (see --check).
    """
    spec = get_spec(name)
    _warn_if_cache_is_not_a_folder()
    path = cached_path(spec.name)
    state = cache_state(spec.name) if check else "cached"
    if state == "missing" and os.path.lexists(path):
        raise CheckpointError(
            f"{path} is in the cache but is not a file ("
            f"{'a folder' if path.is_dir() else 'not a regular file'}); remove it, then run "
            f"`samcli models download {spec.name}`."
        )
    if state == "missing":
        raise CheckpointError(
            f"{spec.name} weights are not in the cache ({path}); run "
            f"`samcli models download {spec.name}`."
        )
    if state != "cached":
        raise CheckpointError(
            f"the cached {spec.name} weights {path} are damaged ({state}); run "
            f"`samcli models download {spec.name} --force`."
        )
    sys.stdout.write(f"{path}\n")


def register(app: typer.Typer) -> None:
    """Add the ``models`` sub-app to the main app."""
    app.add_typer(models_app, name="models")
