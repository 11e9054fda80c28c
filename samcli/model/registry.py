"""Model names, weight files, the download cache and checkpoint loading.

Names: ``vit_b`` (default), ``vit_l``, ``vit_h`` (the official Segment Anything checkpoints)
and ``mobile_sam`` (MobileSAM's TinyViT encoder with SAM's prompt encoder and mask decoder).
Names are matched case-insensitively, ``-`` equals ``_``, and ``vit_t`` (MobileSAM's own
registry name) is an alias of ``mobile_sam``.

Cache
    ``$SAMCLI_HOME``, else ``$XDG_CACHE_HOME/samcli`` (only when it is an absolute path, as the
    XDG spec asks), else ``~/.cache/samcli``. Each model's file keeps its official name there
    (``sam_vit_b_01ec64.pth`` ...), so a file fetched by hand can simply be dropped in.

Download (:func:`download`) streams to ``<file>.part-<pid>`` in the cache folder and moves it
into place with :func:`os.replace` only after every check passed, so the final path only ever
holds a complete, verified file:

1. the byte count equals the ``Content-Length`` header (when the server sent one) and the
   size of the official file (``ModelSpec.size_bytes``, when known);
2. the SHA-256 of the bytes equals ``ModelSpec.sha256`` (when known; it is known for all four
   official files: the values agree across many independent public mirrors and manifests);
3. the file loads with ``torch.load(weights_only=True)`` as a state dict of tensors and, when
   the model builder (:mod:`samcli.model.build`) is importable, its keys and shapes are exactly
   those of the model (checked against a model built on the ``meta`` device: no weights are
   allocated).

The file is fsync'ed before the rename and the folder after it. A partial file is removed on
any failure (Ctrl-C included); partial files left by a killed process are removed by the next
download of the same model.

Checkpoint loading (:func:`load_checkpoint`, :func:`load_model`) never unpickles arbitrary
objects (``weights_only=True``). It accepts a plain state dict (all official files) and, for
fine-tuned checkpoints saved by common training loops, a dict that wraps the state dict under
``"model"`` or ``"state_dict"``. Keys must match exactly (no silent partial loads); every
problem becomes one :class:`~samcli.errors.CheckpointError` naming the file.

This module imports only torch, the standard library and :mod:`samcli.errors`
(plus :mod:`samcli.model.build`, lazily).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import socket
import time
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from samcli.errors import CheckpointError, DownloadError, UsageError
from samcli.model.specs import DEFAULT_MODEL, MODELS, ModelSpec, get_spec, model_names

if TYPE_CHECKING:  # torch is imported when first needed: `samcli models ...` stays quick
    import torch

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "ModelSpec",
    "ProgressCallback",
    "cache_dir",
    "cached_path",
    "download",
    "get_spec",
    "infer_model_name",
    "is_cached",
    "load_checkpoint",
    "load_model",
    "model_names",
    "read_state_dict",
    "resolve_checkpoint",
]

#: Seconds the opener may wait to connect, and then for each read of the body.
DOWNLOAD_TIMEOUT_S = 30.0
#: Bytes read from the network per chunk (the progress callback is called after each).
CHUNK_BYTES = 1 << 20
#: Partial files older than this are deleted even when their owner's pid cannot be checked.
STALE_PART_S = 24 * 3600

#: ``progress(bytes_done, bytes_total_or_None)``; called once with 0 before the first chunk.
ProgressCallback = Callable[[int, Optional[int]], None]


# --------------------------------------------------------------------------------------------
# cache


def cache_dir() -> Path:
    """``$SAMCLI_HOME``, else ``$XDG_CACHE_HOME/samcli``, else ``~/.cache/samcli``.

    Empty variables count as unset; a relative ``XDG_CACHE_HOME`` is ignored (XDG spec).
    The folder is not created here.
    """
    home = os.environ.get("SAMCLI_HOME", "").strip()
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    if xdg and Path(xdg).expanduser().is_absolute():
        return Path(xdg).expanduser() / "samcli"
    return Path.home() / ".cache" / "samcli"


def cached_path(name: str) -> Path:
    """Where the weights of model ``name`` live in the cache (whether or not they are there)."""
    return cache_dir() / get_spec(name).filename


def is_cached(name: str) -> bool:
    """Whether the cache holds a non-empty file for ``name`` (its content is not re-hashed)."""
    path = cached_path(name)
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# download


def _human_bytes(n: int | None) -> str:
    if n is None:
        return "unknown size"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _one_line(text: object, limit: int = 200) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _reason(exc: BaseException) -> str:
    """A short human reason for a network failure."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        inner = exc.reason
        if isinstance(inner, BaseException):
            return _reason(inner)
        return _one_line(inner)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"timed out after {DOWNLOAD_TIMEOUT_S:g} s"
    if isinstance(exc, http.client.IncompleteRead):
        return "the connection closed before the whole file arrived"
    text = _one_line(exc) or type(exc).__name__
    return text


def _download_error(spec: ModelSpec, dest: Path, reason: str) -> DownloadError:
    return DownloadError(
        f"could not download {spec.name} weights from {spec.url} ({reason}). "
        f"Download the file yourself and put it at {dest}, or pass --checkpoint FILE."
    )


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # cannot check cheaply; rely on the file's age instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _clean_stale_parts(dest: Path) -> None:
    """Remove ``<file>.part-<pid>`` files whose process is gone (or that are a day old)."""
    pattern = re.compile(re.escape(dest.name) + r"\.part-(\d+)$")
    try:
        entries = list(dest.parent.iterdir())
    except OSError:
        return
    now = time.time()
    for entry in entries:
        match = pattern.match(entry.name)
        if not match:
            continue
        pid = int(match.group(1))
        try:
            old = now - entry.stat().st_mtime > STALE_PART_S
            if pid != os.getpid() and (old or not _pid_alive(pid)):
                entry.unlink()
        except OSError:
            pass


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _content_length(response: Any) -> int | None:
    headers = getattr(response, "headers", None)
    value = headers.get("Content-Length") if headers is not None else None
    if value is None:
        return None
    try:
        length = int(str(value).strip())
    except ValueError:
        return None
    return length if length >= 0 else None


def download(
    name: str,
    opener: Callable[..., Any] = urllib.request.urlopen,
    progress: ProgressCallback | None = None,
) -> Path:
    """Download the weights of ``name`` into the cache and return their path.

    Always fetches (replacing a cached file only once the new one is verified); see the module
    docstring for what is verified. ``opener(request, timeout=...)`` must return a
    file-like response with ``read(n)`` and ``headers`` (``urllib.request.urlopen`` by default;
    tests pass a fake). Every failure is a :class:`DownloadError` (network, size, checksum,
    content that is not the model's weights) and leaves nothing at the final path.
    """
    spec = get_spec(name)
    dest = cache_dir() / spec.filename
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"cannot create the model cache folder {dest.parent} ({_one_line(exc)}). "
            "Set SAMCLI_HOME to a writable folder, or pass --checkpoint FILE."
        ) from None
    _clean_stale_parts(dest)
    part = dest.with_name(f"{dest.name}.part-{os.getpid()}")
    try:
        _fetch(spec, dest, part, opener, progress)
        _verify_download(spec, dest, part)
        os.replace(part, dest)
        _fsync_dir(dest.parent)
    finally:
        with contextlib.suppress(OSError):
            part.unlink()
    return dest


def _fetch(
    spec: ModelSpec,
    dest: Path,
    part: Path,
    opener: Callable[..., Any],
    progress: ProgressCallback | None,
) -> None:
    """Stream the URL into ``part``; check the byte count and checksum."""
    request = urllib.request.Request(spec.url, headers={"User-Agent": "samcli"})
    network_errors = (OSError, http.client.HTTPException, ValueError)
    digest = hashlib.sha256()
    received = 0
    try:
        response = opener(request, timeout=DOWNLOAD_TIMEOUT_S)
    except network_errors as exc:
        raise _download_error(spec, dest, _reason(exc)) from None
    with contextlib.closing(response):
        status = getattr(response, "status", None)
        if isinstance(status, int) and not 200 <= status < 300:
            raise _download_error(spec, dest, f"HTTP {status}")
        total = _content_length(response)
        shown_total = total if total is not None else spec.size_bytes
        try:
            out = open(part, "wb")
        except OSError as exc:
            raise _write_error(spec, part, exc) from None
        with out:
            if progress is not None:
                progress(0, shown_total)
            while True:
                try:
                    chunk = response.read(CHUNK_BYTES)
                except network_errors as exc:
                    raise _download_error(spec, dest, _reason(exc)) from None
                if not chunk:
                    break
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise _write_error(spec, part, exc) from None
                digest.update(chunk)
                received += len(chunk)
                if progress is not None:
                    progress(received, shown_total)
            try:
                out.flush()
                os.fsync(out.fileno())
            except OSError as exc:
                raise _write_error(spec, part, exc) from None
    if total is not None and received != total:
        raise _download_error(
            spec, dest, f"the download was cut off: got {received} of {total} bytes"
        )
    if spec.size_bytes is not None and received != spec.size_bytes:
        raise _download_error(
            spec,
            dest,
            f"got {received} bytes, but the official file has {spec.size_bytes} bytes",
        )
    if spec.sha256 is not None and digest.hexdigest() != spec.sha256.lower():
        raise _download_error(
            spec,
            dest,
            f"SHA-256 mismatch: got {digest.hexdigest()}, expected {spec.sha256.lower()}",
        )


def _write_error(spec: ModelSpec, part: Path, exc: OSError) -> DownloadError:
    return DownloadError(
        f"could not write {spec.name} weights to {part} ({_one_line(exc)}). Free some space "
        "or set SAMCLI_HOME to another folder, or pass --checkpoint FILE."
    )


def _verify_download(spec: ModelSpec, dest: Path, part: Path) -> None:
    """The downloaded file must load as a state dict matching the model (when buildable)."""
    what = "the downloaded file"
    try:
        state = read_state_dict(part, what=what)
        expected = _expected_shapes(spec.name)
        if expected is not None:
            check_state_dict(state, expected, part, spec.name, what=what)
    except CheckpointError as exc:
        raise _download_error(spec, dest, str(exc).rstrip(".")) from None
    finally:
        state = None  # noqa: F841  (drop the memory map before the rename)


# --------------------------------------------------------------------------------------------
# checkpoints


def _build_model(name: str, skip_init: bool = False) -> torch.nn.Module:
    """Build a model by registry name (random weights unless ``skip_init``: uninitialised, for
    a checkpoint loaded next); the builder is imported lazily."""
    from samcli.model.build import build_model

    return build_model(name, skip_init=skip_init)


def _expected_shapes(name: str) -> dict[str, tuple[int, ...]] | None:
    """Key -> shape of the model's state dict, or None when the builder is not available.

    The model is built on the ``meta`` device, so nothing is allocated (or, should the
    builder not support that, normally on the CPU).
    """
    import torch

    try:
        with torch.device("meta"):
            model = _build_model(name)
    except ImportError:
        return None
    except Exception:  # a builder that cannot run on "meta": pay for a real build
        model = _build_model(name)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _unwrap(obj: Any) -> Any:
    """A state dict wrapped by a training loop under "model" / "state_dict" is unwrapped."""
    import torch

    if isinstance(obj, Mapping) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in ("model", "state_dict"):
            inner = obj.get(key)
            if isinstance(inner, Mapping):
                return inner
    return obj


def read_state_dict(path: Path | str, *, what: str | None = None) -> dict[str, torch.Tensor]:
    """Load a checkpoint file as a ``{name: tensor}`` dict, safely (``weights_only=True``).

    Zip-format files (every official one) are memory-mapped rather than read into memory.
    Raises :class:`CheckpointError` for a missing, empty, truncated, corrupt or non-state-dict
    file. ``what`` replaces ``checkpoint PATH`` as the subject of the messages.
    """
    import torch

    path = Path(path).expanduser()
    subject = what or f"checkpoint {path}"
    again = "" if what else " If it was downloaded, download it again."
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist.")
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a folder, not a file.")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path} ({_one_line(exc)}).") from None
    if size == 0:
        raise CheckpointError(
            f"{subject} is empty (0 bytes)"
            + ("." if what else ": delete it and download it again.")
        )
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path} ({_one_line(exc)}).") from None
    use_mmap = zipfile.is_zipfile(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's pickle-protocol chatter is not for users
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=use_mmap)
    except Exception as exc:  # torch raises many types for bad files; all mean the same
        text = str(exc)
        found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        if found:
            raise CheckpointError(
                f"{subject} holds Python objects other than tensors (such as "
                f"{found.group(1)}); samcli loads only plain weights (torch.load with "
                "weights_only=True) so that a checkpoint cannot run code. Save just the "
                "model's state_dict() and try again."
            ) from None
        raise CheckpointError(
            f"{subject} ({size} bytes) is not a PyTorch checkpoint or is truncated "
            f"({_load_reason(exc)}).{again}"
        ) from None
    state = _unwrap(obj)
    if not isinstance(state, Mapping) or not state:
        kind = "an empty dict" if isinstance(state, Mapping) else f"a {type(state).__name__}"
        raise CheckpointError(
            f"{subject} does not hold a model state dict (it holds {kind})."
        )
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        shown = ", ".join(repr(k) for k in bad[:3])
        raise CheckpointError(
            f"{subject} does not hold a model state dict: {len(bad)} entries are not "
            f"named tensors ({shown}{', ...' if len(bad) > 3 else ''})."
        )
    return dict(state)


def _load_reason(exc: BaseException) -> str:
    """The useful part of a torch.load error, on one short line."""
    text = str(exc)
    if "WeightsUnpickler error:" in text:
        detail = text.split("WeightsUnpickler error:", 1)[1].strip().splitlines()
        return _one_line(detail[0] if detail else "", 120) or "unreadable pickle data"
    first = text.split(". ", 1)[0].rstrip(".")  # torch adds advice that does not apply here
    return _one_line(first, 120) or type(exc).__name__


def infer_model_name(state_dict: Mapping[str, Any]) -> str | None:
    """Which model of the table a SAM state dict belongs to, from its keys and shapes; or None.

    The distinguishing shapes come from the table itself: each row's architecture says what
    tells it apart (``VitArch``: encoder width and depth; ``TinyVitArch``: width and depth of
    every stage), and the state dict must show exactly that.
    """
    keys = [k for k in state_dict if isinstance(k, str)]
    if not any(k.startswith("mask_decoder.") for k in keys):
        return None
    read: dict[type, tuple | None] = {}
    for spec in MODELS.values():
        kind = type(spec.arch)
        if spec.arch is None or not hasattr(kind, "read_signature"):
            continue
        if kind not in read:
            read[kind] = kind.read_signature(state_dict)
        if read[kind] is not None and read[kind] == spec.arch.signature():
            return spec.name
    return None


def _count(n: int, noun: str, verb: bool = True) -> str:
    """``1 key is`` / ``3 keys are`` (or without the verb)."""
    text = f"{n} {noun}" + ("" if n == 1 else "s")
    if verb:
        text += " is" if n == 1 else " are"
    return text


def _listing(keys: list[str], limit: int = 3) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (", ..." if len(keys) > limit else "")


def check_state_dict(
    state: Mapping[str, torch.Tensor],
    expected: Mapping[str, Any],
    path: Path | str,
    name: str | None = None,
    *,
    what: str | None = None,
) -> None:
    """Keys and shapes of ``state`` must equal ``expected`` (key -> shape); else CheckpointError.

    ``name`` is the model the file was meant for, used in the message; when the keys look like
    another registered model, the message says which. ``what`` replaces ``checkpoint PATH``
    as the subject of the message.
    """
    subject = what or f"checkpoint {path}"
    model = f"the {name} model" if name else "the model"
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        k
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k])
    ]
    if not (missing or unexpected or wrong):
        return
    parts = []
    guess = infer_model_name(state)
    if guess is not None and guess != name:
        parts.append(
            f"{subject} does not fit {model}: it looks like a {guess} checkpoint "
            f"(pass --model {guess}, or leave --model out to infer it)."
        )
    else:
        parts.append(f"{subject} does not fit {model}; it looks like a different model.")
    if missing:
        parts.append(f"{_count(len(missing), 'key')} missing ({_listing(missing)}).")
    if unexpected:
        parts.append(f"{_count(len(unexpected), 'key')} unexpected ({_listing(unexpected)}).")
    if wrong:
        shown = "; ".join(
            f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k])}" for k in wrong[:3]
        )
        more = "; ..." if len(wrong) > 3 else ""
        verb = "has" if len(wrong) == 1 else "have"
        parts.append(
            f"{_count(len(wrong), 'tensor', verb=False)} {verb} the wrong shape ({shown}{more})."
        )
    raise CheckpointError(" ".join(parts))


def load_checkpoint(model: torch.nn.Module, path: Path | str, name: str | None = None) -> None:
    """Load the weights in ``path`` into ``model``, strictly; every problem is a CheckpointError.

    ``name`` (the registry name of ``model``, optional) only improves the messages.
    """
    state = read_state_dict(path)
    _apply_state_dict(model, state, Path(path), name)


def _apply_state_dict(
    model: torch.nn.Module, state: Mapping[str, torch.Tensor], path: Path, name: str | None
) -> None:
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    check_state_dict(state, expected, path, name)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # e.g. a dtype that cannot be copied
        raise CheckpointError(
            f"checkpoint {path} could not be loaded into the model ({_one_line(exc, 200)})."
        ) from None


def resolve_checkpoint(
    name: str | None,
    checkpoint: Path | str | None,
    download_missing: bool = True,
    *,
    opener: Callable[..., Any] = urllib.request.urlopen,
    progress: ProgressCallback | None = None,
) -> Path:
    """The weight file to use: ``checkpoint`` when given (it wins over the name), else the
    cached file of ``name`` (default ``vit_b``), downloaded first when missing and allowed."""
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.exists():
            raise CheckpointError(f"checkpoint {path} does not exist.")
        return path
    spec = get_spec(name or DEFAULT_MODEL)
    path = cached_path(spec.name)
    if is_cached(spec.name):
        return path
    if not download_missing:
        raise CheckpointError(
            f"{spec.name} weights are not in the cache ({path}); run "
            f"`samcli models download {spec.name}`, or pass --checkpoint FILE."
        )
    return download(spec.name, opener=opener, progress=progress)


def load_model(
    name: str | None = None,
    checkpoint: Path | str | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | str | None = None,
    *,
    download_missing: bool = True,
    opener: Callable[..., Any] = urllib.request.urlopen,
    progress: ProgressCallback | None = None,
) -> torch.nn.Module:
    """Build model ``name`` with its weights, moved to ``device`` / ``dtype``, in eval mode.

    Without ``checkpoint``: the cached official weights of ``name`` (default ``vit_b``),
    downloaded when missing. With ``checkpoint``: that file; the architecture is ``name`` when
    given, else inferred from the file's keys and shapes (:func:`infer_model_name`).
    ``dtype`` is a ``torch.dtype`` or its name (``"bfloat16"``); None means float32.
    """
    import torch

    if isinstance(dtype, str):
        resolved = getattr(torch, dtype, None)
        if not isinstance(resolved, torch.dtype) or not resolved.is_floating_point:
            raise UsageError(f"unknown dtype {dtype!r}; use float32, bfloat16 or float16.")
        dtype = resolved
    if name is not None:
        name = get_spec(name).name  # an unknown name is a usage error before any work
    path = resolve_checkpoint(name, checkpoint, download_missing, opener=opener, progress=progress)
    from_cache = checkpoint is None
    try:
        state = read_state_dict(path, what=f"cached checkpoint {path}" if from_cache else None)
        if name is None and checkpoint is not None:
            inferred = infer_model_name(state)
            if inferred is None:
                raise CheckpointError(
                    f"cannot tell which SAM model checkpoint {path} is for ({len(state)} "
                    f"tensors, e.g. {_listing(list(state))}); pass --model "
                    f"{'|'.join(model_names())}."
                )
            spec = get_spec(inferred)
        else:
            spec = get_spec(name or DEFAULT_MODEL)
        model = _build_model(spec.name, skip_init=True)  # every weight comes from the file
        _apply_state_dict(model, state, path, spec.name)
    except CheckpointError as exc:
        if from_cache:
            raise CheckpointError(
                f"{exc} The cached file may be damaged: run "
                f"`samcli models download {get_spec(name or DEFAULT_MODEL).name} --force`."
            ) from None
        raise
    finally:
        state = None  # noqa: F841
    model = model.to(device=device, dtype=dtype or torch.float32)
    return model.eval()
