"""Checkpoint files: read a state dict safely, check it strictly, tell which model it is for.

:func:`read_state_dict` never unpickles arbitrary objects (``torch.load(weights_only=True)``).
It accepts a plain state dict (all official files) and, for fine-tuned checkpoints saved by
common training loops, a dict that wraps the state dict under ``"model"`` or
``"state_dict"``. Keys and shapes must match exactly (:func:`check_state_dict`: no silent
partial loads); every problem becomes one :class:`~samcli.errors.CheckpointError` naming the
file. :func:`infer_model_name` recognises a state dict from the model table's architectures.

This module imports only torch (when first needed), the standard library,
:mod:`samcli.errors`, :mod:`samcli.fs` and the model table (plus :mod:`samcli.model.build`,
lazily).
"""

from __future__ import annotations

import os
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from samcli.errors import CheckpointError
from samcli.fs import text_of_path
from samcli.model._text import count as _count
from samcli.model._text import listing as _listing
from samcli.model._text import one_line as _one_line
from samcli.model.specs import MODELS

if TYPE_CHECKING:  # torch is imported when first needed: `samcli models ...` stays quick
    import torch

__all__ = [
    "apply_state_dict",
    "check_state_dict",
    "expected_shapes",
    "expected_state",
    "infer_model_name",
    "load_checkpoint",
    "make_model",
    "network_state",
    "read_state_dict",
    "require_finite",
    "require_kinds",
]


def make_model(name: str, skip_init: bool = False) -> torch.nn.Module:
    """Build a model by table name (random weights unless ``skip_init``: uninitialised, for
    a checkpoint loaded next); the builder is imported lazily. Tests replace this function
    to stand in a small model."""
    from samcli.model.build import build_model

    return build_model(name, skip_init=skip_init)


def expected_state(name: str) -> dict[str, torch.Tensor] | None:
    """The state dict of model ``name`` as built (key -> tensor of the model's shape and
    dtype, on the ``meta`` device: nothing is allocated), or None when the builder is not
    available. (Should a builder not support ``meta``, it is built on the CPU.)"""
    from samcli.model.meta import on_meta

    try:
        with on_meta():
            model = make_model(name)
    except ImportError:
        return None
    except Exception:  # a builder that cannot run on "meta": pay for a real build
        model = make_model(name)
    return dict(model.state_dict())


def expected_shapes(name: str) -> dict[str, tuple[int, ...]] | None:
    """Key -> shape of the model's state dict, or None when the builder is not available."""
    state = expected_state(name)
    return None if state is None else {k: tuple(v.shape) for k, v in state.items()}


def require_file(path: Path | str) -> Path:
    """``path`` (``~`` expanded) if it is a file; else CheckpointError saying what is there
    instead. Run before any work."""
    if not os.fspath(path):  # Path("") is ".": the current folder
        raise CheckpointError("checkpoint '': give a weights file")
    text = os.fsdecode(path)
    if "\0" in text:  # (os.stat's ValueError would be a traceback)
        raise CheckpointError(f"checkpoint {text!r}: not a valid path (contains a NUL byte)")
    p = Path(path).expanduser()
    if p.is_dir():
        raise CheckpointError(f"checkpoint {path}: is a folder, not a weights file")
    if not p.is_file():
        try:
            os.stat(p)
        except OSError as exc:  # what is wrong: no such file, a symlink loop, no access
            raise CheckpointError(f"checkpoint {path}: "
                                  f"{(exc.strerror or 'no such file').lower()}") from None
        raise CheckpointError(f"checkpoint {path}: not a regular file")
    return p


def _unwrap(obj: Any) -> Any:
    """A state dict wrapped by a training loop under "model" / "state_dict" is unwrapped
    (whatever else the wrapper holds: an optimizer, an epoch as a tensor; no SAM state dict
    has a key named so)."""
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict"):
            inner = obj.get(key)
            if isinstance(inner, Mapping):
                return inner
    return obj


#: Prefixes that wrappers put before every key: DataParallel / DistributedDataParallel
#: (``module.``), torch.compile (``_orig_mod.``), a LightningModule holding the model as
#: ``self.model`` (``model.``).
WRAPPER_PREFIXES = ("module.", "_orig_mod.", "model.")


def _strip_wrapper_prefixes(state: Mapping[str, Any]) -> Mapping[str, Any]:
    """``state`` without a wrapper's prefix on every key (:data:`WRAPPER_PREFIXES`, nested
    ones too), when what is left is a SAM state dict (it has mask decoder keys); else as it
    is. The tensors are not touched, and the strict key and shape check still follows."""
    keys = [k for k in state if isinstance(k, str)]
    depth = ""
    while keys and len(keys) == len(state):
        prefix = next((p for p in WRAPPER_PREFIXES
                       if all(k.startswith(depth + p) for k in keys)), None)
        if prefix is None:
            break
        depth += prefix
    if not depth or not any(k[len(depth):].startswith(("mask_decoder.", "sam_mask_decoder."))
                            for k in keys):
        return state
    return {k[len(depth):]: v for k, v in state.items()}


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
        raise CheckpointError(f"cannot read checkpoint {path}: "
                              f"{_one_line(exc.strerror or exc)}.") from None
    if size == 0:
        raise CheckpointError(f"{subject} is empty (0 bytes).{again}")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: "
                              f"{_one_line(exc.strerror or exc)}.") from None
    use_mmap = zipfile.is_zipfile(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's pickle-protocol chatter is not for users
            if text_of_path(str(path)) == str(path):  # valid UTF-8
                obj = torch.load(path, map_location="cpu", weights_only=True, mmap=use_mmap)
            else:  # torch encodes a path as UTF-8: read bytes that are not through Python
                with open(path, "rb") as fh:
                    obj = torch.load(fh, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for bad files; all mean the same
        code = _code_in_pickle(exc, path, use_mmap)
        if code is not None:
            raise CheckpointError(
                f"{subject} holds Python code or objects other than tensors ({code}); samcli "
                "loads only plain tensors (torch.load with weights_only=True), so nothing in "
                "the file was run. If you trust the file, load it in Python and save just the "
                "model's state_dict()."
            ) from None
        layout = _zip_layout_reason(path) if use_mmap else None
        if layout is not None:  # a whole archive of another kind: fetching it again won't help
            raise CheckpointError(f"{subject} is not a PyTorch checkpoint: {layout}.") from None
        raise CheckpointError(
            f"{subject} ({size} bytes) is not a PyTorch checkpoint or is truncated "
            f"({_foreign_reason(path, use_mmap) or _load_reason(exc)}).{again}"
        ) from None
    state = _unwrap(obj)
    if isinstance(state, Mapping):
        state = _strip_wrapper_prefixes(state)
    if not isinstance(state, Mapping) or not state:
        kind = "an empty dict" if isinstance(state, Mapping) else f"a {type(state).__name__}"
        raise CheckpointError(
            f"{subject} does not hold a model state dict (it holds {kind})."
        )
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(
            f"{subject} does not hold a model state dict: {_count(len(bad), 'entry')} not "
            f"{'a named tensor' if len(bad) == 1 else 'named tensors'} "
            f"({_listing([repr(k) for k in bad])})."
        )
    for key, value in state.items():
        kind = _storage_kind(value)
        if kind is not None:
            raise CheckpointError(f"{subject}: tensor {key} is {kind}; samcli loads dense "
                                  "tensors with their values in the file.")
    return dict(state)


def check_zip_crcs(path: Path | str) -> None:
    """CheckpointError when an entry of a zip-format checkpoint fails its CRC-32, or the
    archive cannot be read through. ``torch.load`` checks no CRC, so a flipped byte in a
    tensor's data would load as a wrong weight without a word. Reads the whole file; a file
    that is not a zip archive (the legacy format) has no CRCs and passes."""
    import zlib

    path = Path(path).expanduser()
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError) as exc:
        raise CheckpointError(f"checkpoint {path} cannot be read through "
                              f"({_one_line(exc)}): a damaged copy?") from None
    if bad is not None:
        raise CheckpointError(f"checkpoint {path} is damaged: its entry {bad} fails its "
                              "CRC-32 check. If it was downloaded or copied, do it again.")


def _storage_kind(value: torch.Tensor) -> str | None:
    """What keeps a tensor from being loaded as weights (None: nothing): no values (the meta
    device), a sparse layout, quantized or complex values."""
    import torch

    if value.device.type == "meta":
        return "on the meta device (a shape without values)"
    if value.layout != torch.strided:
        return f"stored {_torch_name(value.layout)}"
    if value.is_quantized:
        return f"quantized ({_torch_name(value.dtype)})"
    if value.is_complex():
        return f"complex ({_torch_name(value.dtype)})"
    return None


def _torch_name(thing: Any) -> str:
    """A torch dtype or layout as messages show it: ``int64``, not ``torch.int64``."""
    return str(thing).removeprefix("torch.")


#: How torch's safe unpickler names what it refused, across its wordings (2.4 to 2.14):
#: "Unsupported global: GLOBAL __main__.Net was not an allowed global by default",
#: "Trying to load unsupported GLOBAL posix.system whose module posix is blocked",
#: "Trying to call reduce for unrecognized function <built-in function system>",
#: "Can only create new object for nn.Parameter or classes allowlisted ... but got <class 'x'>".
_REFUSED = (
    re.compile(r"\bGLOBAL\s+([A-Za-z_][\w.]*)"),
    re.compile(r"reduce for unrecognized function\s+(.+?)(?:\s+which belongs|$)", re.M),
    re.compile(r"create new object for .*? but got\s+(\S.*?)\s*$", re.M),
)


def _code_in_pickle(exc: BaseException, path: Path, is_zip: bool) -> str | None:
    """What made ``torch.load(weights_only=True)`` refuse the file, when it refused a Python
    global (a function or class: code), else None (a truncated or foreign file).

    The error text is read first; as torch rewords it from release to release, a zip
    checkpoint is also scanned statically (``get_unsafe_globals_in_checkpoint``: the pickle
    is disassembled, never run), which does not depend on any wording.
    """
    text = str(exc)
    for pattern in _REFUSED:
        found = pattern.search(text)
        if found:
            return _one_line(found.group(1), 80)
    if not is_zip:
        return None
    try:
        from torch.serialization import get_unsafe_globals_in_checkpoint

        unsafe = sorted(get_unsafe_globals_in_checkpoint(str(path)))
    except Exception:  # an older torch, or a zip torch cannot parse: no more to say
        return None
    if not unsafe:
        return None
    return _one_line(", ".join(unsafe[:3]) + (", ..." if len(unsafe) > 3 else ""), 120)


#: How torch.save's two formats begin: a zip archive's first local header, or (the legacy
#: format) a protocol-2 pickle of torch's magic number 0x1950a86a20f9469cfc6c
_ZIP_HEAD = b"PK\x03\x04"
_LEGACY_HEAD = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


def _foreign_reason(path: Path, is_zip: bool) -> str | None:
    """Why a file torch could not load is no checkpoint, from its first bytes, where torch's
    own words would mislead (a file of zeros is no "legacy .tar format" file); None when it
    begins as torch.save's files do (then torch's reason stands: a truncated file)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_LEGACY_HEAD))
    except OSError:
        return None
    if head.startswith(_ZIP_HEAD) or head.startswith(_LEGACY_HEAD):
        return None
    if is_zip:
        return "a zip archive, but not at the file's start"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a pickle, not one torch.save wrote"
    return "no PyTorch data at its start"


def _zip_layout_reason(path: Path) -> str | None:
    """What a whole zip archive that torch could not load holds instead of torch.save's
    layout (``<name>/data.pkl`` beside the tensors' ``<name>/data/N``); None when its entries
    cannot be listed (a truncated file) or the layout is torch.save's (then torch's reason
    stands)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, EOFError, zipfile.BadZipFile, ValueError):
        return None
    if any(n.endswith("/code/") or "/code/__torch__" in n for n in names) or \
            any(n.endswith("/constants.pkl") for n in names):
        return ("a TorchScript archive (torch.jit.save), not a state dict; load it with "
                "torch.jit.load and torch.save its state_dict()")
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return None
    if names and all(n.endswith(".npy") for n in names):
        return "a NumPy .npz archive of arrays, not tensors saved by torch.save"
    shown = _listing([text_of_path(n) for n in names]) if names else "no entries"
    return f"a zip archive without torch.save's data.pkl ({shown})"


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
    every stage; ``Sam2Arch``: trunk width, blocks per stage, and 2.0 or 2.1 by the video-only
    keys), and the state dict must show exactly that.
    """
    keys = [k for k in state_dict if isinstance(k, str)]
    if not any(k.startswith(("mask_decoder.", "sam_mask_decoder.")) for k in keys):
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


def network_state(state: Mapping[str, Any], name: str | None) -> Mapping[str, Any]:
    """The part of a file's state dict that the network of table row ``name`` loads.

    All of it, except for SAM 2 rows: official SAM 2 files also hold the video tracker, whose
    keys are dropped by name (exactly :data:`~samcli.model.sam2.keys.VIDEO_ONLY_PREFIXES`,
    nothing else), so the strict check of the rest still catches a wrong or truncated file.
    """
    spec = MODELS.get(name) if name else None
    if spec is None or spec.family != "sam2":
        return state
    from samcli.model.sam2.keys import is_video_only

    return {k: v for k, v in state.items() if not (isinstance(k, str) and is_video_only(k))}


def check_state_dict(
    state: Mapping[str, torch.Tensor],
    expected: Mapping[str, Any],
    path: Path | str,
    name: str | None = None,
    *,
    what: str | None = None,
) -> None:
    """Keys and shapes of ``state`` must equal ``expected`` (key -> shape); else CheckpointError.

    ``name`` is the model the file was meant for, used in the message (and, for a SAM 2 row,
    to set the video-only keys of an official file aside first: :func:`network_state`); when
    the keys look like another registered model, the message says which. ``what`` replaces
    ``checkpoint PATH`` as the subject of the message.
    """
    subject = what or f"checkpoint {path}"
    model = f"the {name} model" if name else "the model"
    whole, state = state, network_state(state, name)
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
    guess = infer_model_name(whole)
    if guess is not None and name in MODELS and MODELS[guess].arch == MODELS[name].arch:
        guess = name  # (SAM 2.0 and 2.1 files of one size: the same network)
    if guess is not None and guess != name:
        parts.append(
            f"{subject} does not fit {model}: it looks like a {guess} checkpoint "
            f"(pass --model {guess}, or leave --model out to infer it)."
        )
    elif guess is not None and (missing or wrong):  # the model's own layout, damaged
        parts.append(f"{subject} does not fit {model}: it has that model's layout but not "
                     "all of its tensors (a truncated or modified file?).")
    elif guess is not None:  # every tensor of the model, and more
        parts.append(f"{subject} does not fit {model}: it has all of that model's tensors "
                     "and more (a variant of it, such as SAM-HQ, which samcli does not run).")
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


def require_finite(state: Mapping[str, torch.Tensor], path: Path | str) -> None:
    """CheckpointError naming the first floating-point tensor with a NaN or an infinity: a
    damaged or badly converted file, whose every mask would be NaN logits (empty) and every
    score null. Trained SAM weights are all finite. ``state``: the tensors as the model holds
    them (a float64 value beyond float32's range is an infinity there), or as the file holds
    them (the check before any work). A float32 sum per
    tensor finds any NaN or infinity (0.03 s for SAM 2.1 large's 224M weights, against 0.65 s
    for an element-wise test, which only confirms a non-finite sum: a finite tensor's sum may
    overflow)."""
    import torch

    for key, value in state.items():
        if (value.is_floating_point()
                and not bool(torch.isfinite(torch.sum(value, dtype=torch.float32)))
                and not bool(torch.isfinite(value).all())):
            raise CheckpointError(f"checkpoint {path}: tensor {key} holds NaN or infinite "
                                  "values as the model's weights (a damaged or badly "
                                  "converted file?).")


def require_kinds(state: Mapping[str, torch.Tensor], model_state: Mapping[str, Any],
                   path: Path | str) -> None:
    """CheckpointError naming the first tensor whose values the model's tensor cannot take
    without losing their meaning: integers or booleans where the model has floating point
    (torch would copy them silently). Any floating-point precision is fine (float16,
    bfloat16 or float64 files load as the model's precision)."""
    for key, value in state.items():
        target = model_state.get(key)
        if target is not None and target.is_floating_point() and not value.is_floating_point():
            raise CheckpointError(f"checkpoint {path}: tensor {key} is "
                                  f"{_torch_name(value.dtype)}, the model's is floating point "
                                  "(a damaged or foreign file?).")


def load_checkpoint(model: torch.nn.Module, path: Path | str, name: str | None = None) -> None:
    """Load the weights in ``path`` into ``model``, strictly; every problem is a CheckpointError.

    ``name`` (the table name of ``model``, optional) only improves the messages.
    """
    state = read_state_dict(path)
    apply_state_dict(model, state, Path(path), name)


def apply_state_dict(
    model: torch.nn.Module, state: Mapping[str, torch.Tensor], path: Path, name: str | None
) -> None:
    """Check ``state`` against ``model`` (keys, shapes) and load it strictly (for a SAM 2 row,
    without the official file's video-only keys: :func:`network_state`)."""
    model_state = model.state_dict()
    expected = {k: tuple(v.shape) for k, v in model_state.items()}
    check_state_dict(state, expected, path, name)
    network = network_state(state, name)
    require_kinds(network, model_state, path)
    try:
        model.load_state_dict(network, strict=True)
    except RuntimeError as exc:  # e.g. a dtype that cannot be copied
        raise CheckpointError(
            f"checkpoint {path} could not be loaded into the model ({_one_line(exc, 200)})."
        ) from None
    # (model_state's tensors share the model's storage: they hold the loaded values now)
    require_finite({k: model_state[k] for k in network}, path)
