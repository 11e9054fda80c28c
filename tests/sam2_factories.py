"""SAM 2 test helpers: the reference (Meta's ``sam2`` package) built quietly, random-weight
pairs, and the reference's full key set per official config.

``sam2`` is a test-only dependency, imported lazily. It initialises hydra on import and logs
at INFO; both are kept off the test output here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import warnings

import torch
from torch.overrides import TorchFunctionMode

from samcli.model.sam2 import SAM2_ARCHS, Sam2, build_sam2, split_state_dict
from samcli.model.sam2.arch import SIZES, Sam2Arch
from tests.factories import perturbed_state_dict


def reference_config(name: str) -> str:
    """The reference's hydra config of an official name (inside Meta's ``sam2`` package):
    ``sam2.1_hiera_tiny`` -> ``configs/sam2.1/sam2.1_hiera_t.yaml``."""
    prefix, size = name.split("_hiera_")
    return f"configs/{prefix}/{prefix}_hiera_{SIZES[size][1]}.yaml"


@contextlib.contextmanager
def quiet():
    """No warnings or log records from the reference while building or running it."""
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def reference_model(name: str, device: str = "cpu",
                    image_size: int | None = None) -> torch.nn.Module:
    """Meta's ``SAM2Base`` for an official name, random weights, eval mode, as the image
    predictor gets it from ``build_sam2(config, None)`` (dynamic multimask on).

    ``image_size``: the model input side instead of the config's 1024 (a hydra override;
    see :func:`small_input_arch`). Its ``SAM2ImagePredictor`` then needs
    :func:`fit_reference_predictor`."""
    overrides = [] if image_size is None else [f"++model.image_size={int(image_size)}"]
    with quiet():
        from sam2.build_sam import build_sam2 as reference_build

        return reference_build(reference_config(name), None, device=device,
                               hydra_overrides_extra=overrides)


def small_input_arch(name: str, image_size: int) -> Sam2Arch:
    """The official architecture of ``name`` at a smaller model input (``image_size`` x
    ``image_size``, a multiple of 64, instead of 1024): the same modules and state-dict
    shapes (Hiera interpolates its position embedding to the token grid), feature levels of
    ``image_size`` / 4, / 8, / 16 and low-res logits of ``image_size`` / 4. Tests use it to
    run everything-mode and box prompts in a fraction of the time: the predictor and the
    generator make the same decisions at any input size, and parity at 1024 is held by
    tests/test_predictor_sam2.py and tests/model/test_sam2_parity.py."""
    if image_size % 64:
        raise ValueError(f"image_size {image_size}: expected a multiple of 64")
    return dataclasses.replace(SAM2_ARCHS[name], image_size=image_size)


def fit_reference_predictor(predictor) -> None:
    """Make a reference ``SAM2ImagePredictor`` work with its model's input size: it
    hard-codes the feature sizes of a 1024 input (``_bb_feat_sizes``)."""
    s = predictor.model.image_size
    predictor._bb_feat_sizes = [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]


class _MetaExceptLinspace(TorchFunctionMode):
    """Tensor constructors default to the meta device, except ``torch.linspace`` (Hiera reads
    its drop-path rates with ``.item()``, which meta tensors cannot do)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        from torch.utils._device import _device_constructors

        kwargs = kwargs or {}
        if func in _device_constructors() and kwargs.get("device") is None \
                and func is not torch.linspace:
            kwargs["device"] = "meta"
        return func(*args, **kwargs)


@functools.lru_cache(maxsize=None)
def reference_meta_model(name: str) -> torch.nn.Module:
    """The full reference model (video modules included) with meta tensors: its structure
    and shapes without weights (about a second for large)."""
    with quiet(), _MetaExceptLinspace():
        from sam2.build_sam import build_sam2 as reference_build

        return reference_build(reference_config(name), None, device="meta")


def reference_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the full reference state dict (an official file's key set)."""
    return {k: tuple(v.shape) for k, v in reference_meta_model(name).state_dict().items()}


def make_sam2_pair(name: str, seed: int = 0,
                   image_size: int | None = None) -> tuple[Sam2, torch.nn.Module]:
    """(ours, reference), eval mode, identical seeded random weights.

    The reference's full state dict gets seeded noise on every float tensor (so zero-
    initialised parameters such as ``pos_embed`` take part); ours loads its image-path part
    strictly through :func:`split_state_dict`. ``image_size``: a smaller model input on both
    sides (:func:`small_input_arch`).
    """
    torch.manual_seed(seed)
    ref = reference_model(name, image_size=image_size)
    state = perturbed_state_dict(ref, seed)
    ref.load_state_dict(state, strict=True)
    image_state, _ = split_state_dict(state, SAM2_ARCHS[name])
    arch = name if image_size is None else small_input_arch(name, image_size)
    ours = build_sam2(arch, skip_init=True)
    ours.load_state_dict(image_state, strict=True)
    return ours.eval(), ref.eval()


def cpu_connected_components(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``sam2.utils.misc.get_connected_components`` on the CPU (8-connectivity): the reference
    computes it with its CUDA extension ``sam2._C``, and without it (a CPU install) silently
    skips the small-region clean-up. (N, 1, H, W) bool -> (labels, areas), both (N, 1, H, W)
    int32: each foreground pixel's component label (> 0) and that component's area; 0 on the
    background."""
    import cv2
    import numpy as np

    planes = mask[:, 0].to(torch.uint8).cpu().numpy()
    labels = np.zeros(planes.shape, np.int32)
    areas = np.zeros(planes.shape, np.int32)
    for i, plane in enumerate(planes):
        _, lab, stats, _ = cv2.connectedComponentsWithStats(plane, connectivity=8)
        size = stats[:, cv2.CC_STAT_AREA].astype(np.int32)
        size[0] = 0
        labels[i], areas[i] = lab, size[lab]
    return torch.from_numpy(labels)[:, None], torch.from_numpy(areas)[:, None]


@contextlib.contextmanager
def reference_with_connected_components():
    """The reference's low-res hole / sprinkle filling enabled on the CPU (see
    :func:`cpu_connected_components`), as it runs where its CUDA extension is built."""
    import sam2.utils.misc as misc

    saved = misc.get_connected_components
    misc.get_connected_components = cpu_connected_components
    try:
        yield
    finally:
        misc.get_connected_components = saved
