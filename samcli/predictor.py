"""Embed an image once, then decode batches of point / box / mask prompts against it.

Frames: prompts are given in ORIGINAL image pixels ((x, y), pixel corners at integers, as
in the reference ``SamPredictor``); the predictor maps them to SAM's 1024 input frame.
Outputs are float32 low-resolution logits (B, C, 256, 256) over the padded input canvas;
:meth:`Predictor.upscale` turns them into logits at the original image size.

This module holds SAM 1's (and MobileSAM's) :class:`Predictor`, the :class:`PromptModel`
protocol every predictor follows, and what all families share: device and precision
resolution, decoder sub-batches. SAM 2's predictor is :mod:`samcli.predictor_sam2`;
:func:`samcli.loader.make_predictor` picks the class by family.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from samcli.errors import ConfigError, InputError, UsageError
from samcli.memory import (ENCODER_MMAP_THRESHOLD, LIGHT_ENCODER_MMAP_THRESHOLD,
                            encoder_blocks_mapped, tune_cpu_allocator)
from samcli.model.sam import Sam
from samcli.model.tiny_vit import TinyViT
from samcli.mask_windows import AxisResize, WindowResize, axis_taps
from samcli.model.transforms import ResizeLongestSide

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


class PromptModel(Protocol):
    """What the mask stages need from a predictor (:class:`Predictor` and
    :class:`~samcli.predictor_sam2.Sam2Predictor` are two; tests use oracles): embed an image,
    decode prompts, upscale low-res logits to the image.

    Optional members, read with ``getattr`` so that oracles may leave them out: ``family``
    (``"sam"`` when absent; ``"sam2"`` switches everything-mode to SAM 2's recipe, see
    :mod:`samcli.automask`) and ``as_mask_input(low_res)`` (low-res logits as a mask prompt
    for mask-to-mask refinement; unchanged when absent). ``predict``'s ``iou_floor`` and
    ``upscaled_only`` are hints: an oracle may compute every mask, and every pixel.
    """

    def set_image(self, image: np.ndarray) -> None: ...

    def predict(self, point_coords=None, point_labels=None, boxes=None, mask_input=None,
                multimask_output: bool = True, iou_floor: float | None = None,
                upscaled_only: bool = False) -> tuple[torch.Tensor, torch.Tensor]: ...

    def upscale(self, low_res_logits: torch.Tensor) -> torch.Tensor: ...


def resolve_device(spec: str) -> torch.device:
    """Turn ``auto|cpu|cuda|cuda:N|mps`` into a usable :class:`torch.device`.

    ``auto`` picks CUDA when available, else the CPU. A device that is not available raises
    :class:`~samcli.errors.ConfigError` with a message naming it.
    """
    text = str(spec).strip().lower()
    if text in ("", "auto"):
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError(
                "--device mps was requested but Apple's Metal (MPS) backend is not available "
                "in this PyTorch build or on this machine; use --device cpu"
            )
        return torch.device("mps")
    if text == "cuda" or text.startswith("cuda:"):
        index: int | None = None
        if text != "cuda":
            suffix = text.split(":", 1)[1]
            if not suffix.isdigit():
                raise UsageError(f"bad --device {spec!r}: expected cuda:N with N a number")
            index = int(suffix)
        if not torch.cuda.is_available():
            raise ConfigError(
                f"--device {spec} was requested but CUDA is not available (no NVIDIA GPU "
                "visible, or PyTorch was installed without CUDA support); use --device cpu "
                "or --device auto"
            )
        count = torch.cuda.device_count()
        if index is not None and index >= count:
            raise ConfigError(
                f"--device {spec} was requested but only {count} CUDA device(s) exist "
                f"(cuda:0 .. cuda:{count - 1})"
            )
        return torch.device("cuda", index) if index is not None else torch.device("cuda")
    raise UsageError(f"unknown --device {spec!r}; use auto, cpu, cuda, cuda:N or mps")


def resolve_dtype(spec: str, device: torch.device | str, option: str = "--dtype", *,
                  instead: str = "bfloat16 or float32") -> torch.dtype:
    """Turn ``auto|float32|bfloat16|float16`` into a dtype usable on ``device``; ``option``
    names the command-line option in error messages, ``instead`` its values to use where
    float16 is refused.

    ``auto`` is float32 on the CPU (and MPS), bfloat16 on CUDA devices that support it
    (float32 otherwise). float16 on the CPU raises :class:`~samcli.errors.ConfigError`.
    """
    device = torch.device(device)
    text = str(spec).strip().lower()
    if text in ("", "auto"):
        if device.type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if text not in _DTYPES:
        raise UsageError(f"unknown {option} {spec!r}; use auto, float32, bfloat16 or float16")
    dtype = _DTYPES[text]
    if dtype == torch.float16 and device.type == "cpu":
        raise ConfigError(
            f"{option} float16 is not supported on the CPU (slow and inaccurate there); "
            f"use {option} {instead}"
        )
    if dtype == torch.bfloat16 and _gpu_without_bfloat16(device):
        raise ConfigError(
            f"{option} bfloat16 is not supported by this GPU; use {option} float16 or float32"
        )
    return dtype


def _gpu_without_bfloat16(device: torch.device) -> bool:
    """``device`` is a CUDA device (CUDA being available) that has no bfloat16 arithmetic."""
    return (device.type == "cuda" and torch.cuda.is_available()
            and not torch.cuda.is_bf16_supported())


def resolve_decoder_precision(
    spec: str, dtype: torch.dtype, device: torch.device | str
) -> tuple[torch.dtype, torch.dtype | None]:
    """Turn ``--decoder-dtype`` into (decoder dtype, dtype of its image-token products).

    ``spec`` is ``auto|mixed|float32|bfloat16|float16``; ``dtype`` is the resolved encoder
    dtype. ``mixed`` is a float32 decoder whose products with the per-prompt image tokens run
    in ``dtype`` (bfloat16 when ``dtype`` is float32, refused on a GPU without bfloat16; see
    :mod:`samcli.model.transformer`).
    ``auto`` is ``mixed`` on the CPU when ``dtype`` is bfloat16 (there it keeps most of the
    bfloat16 speed-up at near-float32 masks; see BENCHMARKS.md) and ``dtype`` otherwise.
    A plain dtype gives the whole decoder that precision (second value None).
    """
    device = torch.device(device)
    text = str(spec).strip().lower()
    if text in ("", "auto"):
        text = "mixed" if device.type == "cpu" and dtype == torch.bfloat16 else "same"
    if text == "same":
        return dtype, None
    if text == "mixed":
        if dtype != torch.float32:
            return torch.float32, dtype
        if _gpu_without_bfloat16(device):
            raise ConfigError("--decoder-dtype mixed with --dtype float32 runs the decoder's "
                              "products in bfloat16, which this GPU does not support; use "
                              "--decoder-dtype float32, or mixed with --dtype float16")
        return torch.float32, torch.bfloat16
    if text not in _DTYPES:
        raise UsageError(f"unknown --decoder-dtype {spec!r}; use auto, mixed, float32, bfloat16 "
                          "or float16")
    return resolve_dtype(text, device, "--decoder-dtype",
                         instead="mixed, bfloat16 or float32"), None


# Prompts per mask-decoder call. The decoder holds a few (B, 4096, 256) float tensors (4 MB
# a prompt each) and allocates many more; 16 keeps that to a quarter of a 64-prompt call (and
# the heap fragmentation with it) at no cost in speed (measured at 16, 32 and 64).
DECODER_BATCH = 16

# Masks per pass in ``Predictor.upscale`` are limited so that the temporaries of one pass
# (the 1-D passes' intermediates, about 3 MB a mask at 1024 x 1024, and the output) stay under
# this.
UPSCALE_CHUNK_BYTES = 64 * 2**20

def _sub_batches(n: int, step: int) -> list[tuple[int, int]]:
    """(start, end) of the decoder calls for ``n`` prompts, about ``step`` a call (0: one
    call). Calls get at least ``_MIN_SUB_BATCH`` prompts (a short tail joins the call before
    it): one prompt takes another code path in the decoder. Any split gives the values of one
    call with all prompts to float rounding (matrix kernels are chosen by shape and CPU, so
    the summation order may differ; tests/test_predictor.py states the bound it holds)."""
    if step <= 0:
        return [(0, n)]
    step = max(step, _MIN_SUB_BATCH)
    if n <= step:
        return [(0, n)]
    bounds = [(s, min(s + step, n)) for s in range(0, n, step)]
    if bounds[-1][1] - bounds[-1][0] < _MIN_SUB_BATCH:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


_MIN_SUB_BATCH = 4


def _as_tensor(x: Any, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).to(
        device=device, dtype=dtype
    )


class Predictor:
    """Runs SAM on one image at a time: ``set_image`` once, then any number of ``predict``.

    The model is moved to ``device``; the image encoder is cast in place to ``dtype`` and the
    mask decoder to ``decoder_dtype`` (default: ``dtype``); the prompt encoder and pre/post-
    processing stay in float32, and all outputs are returned as float32. A bfloat16 encoder
    with a float32 decoder keeps bfloat16's encoder speed-up while the mask logits, which
    every threshold cuts, keep float32 precision; ``decoder_products`` (e.g. bfloat16 with a
    float32 decoder: "mixed") also runs the decoder's products with the per-prompt image
    tokens in that dtype (see :mod:`samcli.model.transformer` and BENCHMARKS.md). On the CPU,
    ``tune_allocator`` applies :func:`samcli.memory.tune_cpu_allocator` (process-wide).
    ``predict`` runs the mask decoder on about ``decoder_batch`` prompts at a time (0: all at
    once; default ``DECODER_BATCH`` on the CPU, all at once elsewhere); see ``_sub_batches``
    for what that changes (float rounding only).
    """

    family = "sam"

    def __init__(
        self,
        model: Sam,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        *,
        decoder_dtype: torch.dtype | None = None,
        decoder_products: torch.dtype | None = None,
        tune_allocator: bool = True,
        decoder_batch: int | None = None,
    ) -> None:
        place_model(self, model, model.mask_decoder, device, dtype, decoder_dtype=decoder_dtype,
                    decoder_products=decoder_products, tune_allocator=tune_allocator,
                    decoder_batch=decoder_batch)
        self.transform = ResizeLongestSide(model.img_size)
        self._features: torch.Tensor | None = None
        self._dense_pe: torch.Tensor | None = None
        self.original_size: tuple[int, int] | None = None
        self.input_size: tuple[int, int] | None = None

    # ------------------------------------------------------------------ image
    def set_image(self, image: np.ndarray) -> None:
        """Embed a uint8 (H, W, 3) RGB image; sets ``original_size`` (H, W) and
        ``input_size`` (h', w') (the resized size inside the 1024 canvas)."""
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
            raise InputError("expected the image as a uint8 numpy array")
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
            raise InputError(f"expected an (H, W, 3) RGB image, got shape {tuple(image.shape)}")
        self.reset_image()
        # The encoder's working set differs from the decoder's (see samcli.memory). Once per
        # image; about 2% of the run's time.
        light = isinstance(self.model.image_encoder, TinyViT)
        with encoder_blocks_mapped(LIGHT_ENCODER_MMAP_THRESHOLD if light
                                   else ENCODER_MMAP_THRESHOLD):
            resized = self.transform.apply_image(image)
            x = torch.from_numpy(np.ascontiguousarray(resized)).to(self.device)
            x = x.permute(2, 0, 1).unsqueeze(0)
            with torch.inference_mode():
                x = self.model.preprocess(x).to(self.dtype)
                self._features = self.model.image_encoder(x).to(self.decoder_dtype)
                self._dense_pe = self.model.prompt_encoder.get_dense_pe().to(self.decoder_dtype)
            del x
        self.original_size = (int(image.shape[0]), int(image.shape[1]))
        self.input_size = (int(resized.shape[0]), int(resized.shape[1]))

    def reset_image(self) -> None:
        """Forget the current image."""
        self._features = None
        self._dense_pe = None
        self.original_size = None
        self.input_size = None

    @property
    def is_image_set(self) -> bool:
        return self._features is not None

    @property
    def image_embedding(self) -> torch.Tensor:
        """The current image's embedding, float32 (1, 256, 64, 64)."""
        if self._features is None:
            raise RuntimeError("no image set: call set_image() first")
        return self._features.float()

    # ---------------------------------------------------------------- prompts
    def predict(
        self,
        point_coords: torch.Tensor | np.ndarray | None = None,
        point_labels: torch.Tensor | np.ndarray | None = None,
        boxes: torch.Tensor | np.ndarray | None = None,
        mask_input: torch.Tensor | np.ndarray | None = None,
        multimask_output: bool = True,
        iou_floor: float | None = None,
        upscaled_only: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode a batch of B prompts in one decoder call.

        Args:
            point_coords: (B, N, 2) float (x, y) in original-image pixels, or None.
            point_labels: (B, N) int, 1 foreground / 0 background (-1 padding); needed with
                point_coords.
            boxes: (B, 4) xyxy in original-image pixels, or None.
            mask_input: (B, 1, 256, 256) low-res logits from an earlier call, or None.
            multimask_output: three masks per prompt (True) or one (False).
            iou_floor: a promise that masks whose predicted IoU is not above it will be
                dropped unread (everything-mode's filter): a prompt none of whose masks pass
                is not upscaled, and its logits come back NaN. None: all computed.
            upscaled_only: a promise that the logits will be read only through
                :meth:`upscale` or :meth:`window_resize` (not fed back as mask prompts):
                on the CPU the decoder then skips the input frame's padding, the low-res
                rows and columns beyond those two read (see :meth:`read_extent`), whose
                logits come back NaN. False: all computed, as the reference.

        Returns:
            low_res_logits float32 (B, C, 256, 256) and iou_predictions float32 (B, C),
            C = 3 or 1.
        """
        if self._features is None or self.original_size is None:
            raise RuntimeError("no image set: call set_image() before predict()")
        dev = self.device
        cpu = torch.device("cpu")
        points = None
        batch: int | None = None
        if point_coords is not None:
            if point_labels is None:
                raise ValueError("point_labels are required with point_coords")
            # Coordinates are scaled in float64 on the CPU (like the reference's numpy path),
            # then sent to the device as float32.
            coords = _as_tensor(point_coords, torch.float64, cpu)
            labels = _as_tensor(point_labels, torch.int64, dev)
            if coords.ndim != 3 or coords.shape[-1] != 2:
                raise ValueError(f"point_coords must be (B, N, 2), got {tuple(coords.shape)}")
            if labels.shape != coords.shape[:2]:
                raise ValueError(
                    f"point_labels must be (B, N) = {tuple(coords.shape[:2])}, "
                    f"got {tuple(labels.shape)}"
                )
            coords = self.transform.apply_coords_torch(coords, self.original_size).to(dev)
            points = (coords, labels)
            batch = coords.shape[0]
        box_t = None
        if boxes is not None:
            box_t = _as_tensor(boxes, torch.float64, cpu)
            if box_t.ndim != 2 or box_t.shape[-1] != 4:
                raise ValueError(f"boxes must be (B, 4), got {tuple(box_t.shape)}")
            if batch is not None and box_t.shape[0] != batch:
                raise ValueError("boxes and point prompts must have the same batch size")
            box_t = self.transform.apply_boxes_torch(box_t, self.original_size).to(dev)
            batch = box_t.shape[0]
        mask_t = None
        if mask_input is not None:
            mask_t = _as_tensor(mask_input, torch.float32, dev)
            if mask_t.ndim != 4 or mask_t.shape[1] != 1:
                raise ValueError(f"mask_input must be (B, 1, 256, 256), got {tuple(mask_t.shape)}")
            if batch is not None and mask_t.shape[0] != batch:
                raise ValueError("mask_input and the other prompts must have the same batch size")
        with torch.inference_mode():
            sparse, dense = self.model.prompt_encoder(points, box_t, mask_t)
            sparse = sparse.to(self.decoder_dtype)
            if dense.shape[0] > 1 and dense.stride(0) == 0:
                dense = dense[:1].to(self.decoder_dtype).expand_as(dense)
            else:
                dense = dense.to(self.decoder_dtype)
            # The decoder's per-prompt image tokens (B, 4096, 256) are its largest tensors, so
            # prompts go through it in sub-batches: per-prompt results are the same to float
            # rounding, and so is the time per prompt.
            parts = []
            extent = None
            if upscaled_only:
                low = 4 * self._features.shape[-2]  # the upscaler's output side
                extent = self.read_extent((low, 4 * self._features.shape[-1]))
            for s, e in _sub_batches(sparse.shape[0], self.decoder_batch):
                low_res, iou = self.model.mask_decoder(
                    image_embeddings=self._features,
                    image_pe=self._dense_pe,
                    sparse_prompt_embeddings=sparse[s:e],
                    dense_prompt_embeddings=dense[s:e],
                    multimask_output=multimask_output,
                    product_dtype=self.decoder_products,
                    iou_floor=iou_floor,
                    extent=extent,
                )
                parts.append((low_res.float(), iou.float()))
        if len(parts) == 1:
            return parts[0]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    @staticmethod
    def as_mask_input(low_res_logits: torch.Tensor) -> torch.Tensor:
        """Low-res logits as a mask prompt: unchanged (``SamPredictor`` returns them as they
        are for feeding back)."""
        return low_res_logits

    def read_extent(self, low_size: tuple[int, int]) -> tuple[int, int] | None:
        """The low-res rows and columns (from the top left) that :meth:`upscale` and
        :meth:`window_resize` read of logits of ``low_size`` (h, w): those of the unpadded
        input area, and one more (output row y < h' reads low-res rows <= ceil(h' /
        factor); the spare one keeps the kept rows clear of the edge clamp, so the values
        are those of the full-size passes). None: all (shapes handed to the reference's
        own function)."""
        if self.original_size is None or self.input_size is None:
            raise RuntimeError("no image set: call set_image() first")
        frame, low = self.model.img_size, low_size[-1]
        factor = frame // low
        if low_size[0] != low or factor * low != frame:
            return None
        h, w = self.input_size
        return min(low, -(-h // factor) + 1), min(low, -(-w // factor) + 1)

    def window_resize(self, low_size: tuple[int, int]) -> WindowResize | None:
        """:meth:`upscale` as per-axis taps (rows first: x4 to the 1024 frame, then the kept
        part to the original size), from low-res logits of ``low_size`` (h, w), for upscaling
        windows of it (:mod:`samcli.mask_windows`: the same values, mask by mask); None for
        the shapes :meth:`upscale` hands to the reference's own function."""
        extent = self.read_extent(low_size)
        if extent is None:
            return None
        rows, cols = extent
        factor = self.model.img_size // low_size[-1]
        (h, w), (out_h, out_w) = self.input_size, self.original_size
        return WindowResize(
            rows=AxisResize((axis_taps(rows, rows * factor), axis_taps(h, out_h))),
            cols=AxisResize((axis_taps(cols, cols * factor), axis_taps(w, out_w))),
            rows_first=True)

    def upscale(self, low_res_logits: torch.Tensor) -> torch.Tensor:
        """Low-res logits (B, C, 256, 256) -> float32 logits (B, C, H, W) at original size.

        The reference ``Sam.postprocess_masks`` (bilinear to the 1024 frame, crop of the
        unpadded input area, bilinear to the original size) evaluated one axis at a time:
        bilinear interpolation is separable, so four 1-D linear passes (rows: x4, crop,
        resize; then columns likewise) give the same values in real arithmetic (float32 results
        within a few ulps, measured max 5e-5 on logits of magnitude 100) at a third of the
        time, since the 1024 x 1024 frame is never built. Only the low-res rows/columns that
        influence the kept area are read.
        """
        extent = self.read_extent(low_res_logits.shape[-2:])  # (no image set: RuntimeError)
        x = low_res_logits.to(device=self.device, dtype=torch.float32)
        if extent is None:
            return self.model.postprocess_masks(x, self.input_size, self.original_size)
        rows, cols = extent
        factor = self.model.img_size // x.shape[-1]
        h, w = self.input_size
        out_h, out_w = self.original_size
        b, c = x.shape[:2]
        x = x[..., :rows, :cols].reshape(b * c, rows, cols)
        # Bounded passes (each mask is resized on its own, so chunking changes no value);
        # rows first, so the last pass writes the (k, H, W) result in its final layout
        per_mask = 4 * (cols * factor * rows + cols * out_h + out_h * factor * cols
                        + 2 * out_h * out_w)
        step = max(1, UPSCALE_CHUNK_BYTES // per_mask)

        def resize(part: torch.Tensor) -> torch.Tensor:  # (k, rows, cols) -> (k, H, W)
            t = _resize_last_axis(part.transpose(1, 2), factor, h, out_h)  # (k, cols, H)
            return _resize_last_axis(t.transpose(1, 2), factor, w, out_w)

        if step >= b * c:  # one pass (the usual case): its result is the output
            return resize(x).view(b, c, out_h, out_w)
        out = torch.empty(b * c, out_h, out_w, dtype=torch.float32, device=x.device)
        for s in range(0, b * c, step):
            out[s : s + step] = resize(x[s : s + step])
        return out.view(b, c, out_h, out_w)


def _resize_last_axis(x: torch.Tensor, factor: int, keep: int, size: int) -> torch.Tensor:
    """One axis of ``Sam.postprocess_masks``: x (k, n, L) float32 -> (k, n, size).

    Linear upsampling by ``factor`` (align_corners=False, edge-clamped), the first ``keep``
    samples kept (the unpadded input area), then linear resizing to ``size``.
    """
    up = F.interpolate(x, scale_factor=float(factor), mode="linear", align_corners=False,
                       recompute_scale_factor=False)[..., :keep]
    return F.interpolate(up, size, mode="linear", align_corners=False)


def place_model(predictor: Any, model: torch.nn.Module, decoder: torch.nn.Module,
                device: torch.device | str, dtype: torch.dtype, *,
                decoder_dtype: torch.dtype | None, decoder_products: torch.dtype | None,
                tune_allocator: bool, decoder_batch: int | None) -> None:
    """What both predictors' constructors do (SAM 1's and SAM 2's, whose mask decoders have
    other attribute names): resolve the device, the decoder's batch and precision, tune the
    CPU allocator, and move ``model`` there in eval mode (its image encoder in ``dtype``,
    ``decoder`` in the decoder's dtype). Sets ``device``, ``decoder_batch``, ``dtype``,
    ``decoder_dtype``, ``decoder_products`` and ``model`` on ``predictor``."""
    predictor.device = torch.device(device)
    if decoder_batch is None:
        decoder_batch = DECODER_BATCH if predictor.device.type == "cpu" else 0
    predictor.decoder_batch = int(decoder_batch)
    if tune_allocator and predictor.device.type == "cpu":
        tune_cpu_allocator()
    predictor.dtype = dtype
    predictor.decoder_dtype = dtype if decoder_dtype is None else decoder_dtype
    predictor.decoder_products = (None if decoder_products == predictor.decoder_dtype
                                  else decoder_products)
    model.eval()
    model.to(device=predictor.device)
    model.image_encoder.to(dtype=dtype)
    decoder.to(dtype=predictor.decoder_dtype)
    predictor.model = model
