"""SAM 2 / 2.1: embed an image once, then decode batches of point / box / mask prompts.

The same :class:`~samcli.predictor.PromptModel` protocol as SAM 1's
:class:`~samcli.predictor.Predictor`, with SAM 2's frames and rules (those of Meta's
``SAM2ImagePredictor``, see :mod:`samcli.model.sam2.transforms`):

- the image is *resized* to the 1024 x 1024 input (aspect ratio not kept, no padding), so
  prompt coordinates (original-image pixels, (x, y)) scale per axis, in float32;
- the low-res logits (B, C, 256, 256) cover the whole input square, and :meth:`upscale` turns
  them into logits at the original size with one bilinear resize (SAM 1 goes through the
  padded 1024 frame and a crop first);
- logits fed back as a mask prompt are clamped to +-32 first (:meth:`as_mask_input`: what the
  reference returns as ``low_res_masks``);
- a single-mask request may return, for a prompt whose single mask is unstable, the best of
  the multimask outputs instead (``dynamic_multimask_via_stability``, in the decoder).

Precision as for SAM 1: the image encoder in ``dtype``, the mask decoder (with the
high-resolution feature convolutions ``conv_s0`` / ``conv_s1``, which belong to it) in
``decoder_dtype``, its image-token products optionally in ``decoder_products`` ("mixed");
the prompt encoder and the pre- and post-processing in float32; outputs float32.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from samcli.errors import InputError
from samcli.mask_windows import AxisResize, WindowResize, axis_taps
from samcli.memory import encoder_blocks_mapped
from samcli.model.sam2.model import Sam2, Sam2Features
from samcli.model.sam2.transforms import (
    clamp_low_res_logits,
    fill_holes_and_sprinkles,
    preprocess_image,
    transform_boxes,
    transform_coords,
)
from samcli.predictor import (UPSCALE_CHUNK_BYTES, _as_tensor, _sub_batches,
                              place_model)

#: The logit threshold of SAM 2's image predictor (its ``mask_threshold``). Its small-region
#: clean-up of low-res logits (:meth:`Sam2Predictor.upscale` with ``fill_area``) measures
#: holes and islands at this threshold, whatever threshold the masks are cut at.
PREDICTOR_THRESHOLD = 0.0


class Sam2Predictor:
    """Runs a SAM 2 model on one image at a time: ``set_image`` once, then any number of
    ``predict``; see the module docstring for the frames and precisions.

    Arguments as :class:`~samcli.predictor.Predictor`'s: ``decoder_batch`` prompts go through
    the decoder at a time (default ``DECODER_BATCH`` on the CPU, all at once elsewhere: the
    results are the same to float rounding); on the CPU ``tune_allocator`` tunes the heap.
    """

    family = "sam2"

    def __init__(
        self,
        model: Sam2,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        *,
        decoder_dtype: torch.dtype | None = None,
        decoder_products: torch.dtype | None = None,
        tune_allocator: bool = True,
        decoder_batch: int | None = None,
    ) -> None:
        place_model(self, model, model.sam_mask_decoder, device, dtype, decoder_dtype=decoder_dtype,
                    decoder_products=decoder_products, tune_allocator=tune_allocator,
                    decoder_batch=decoder_batch)
        self._features: Sam2Features | None = None
        self._dense_pe: torch.Tensor | None = None
        self.original_size: tuple[int, int] | None = None

    # ------------------------------------------------------------------ image
    def set_image(self, image: np.ndarray) -> None:
        """Embed a uint8 (H, W, 3) RGB image; sets ``original_size`` (H, W)."""
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
            raise InputError("expected the image as a uint8 numpy array")
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
            raise InputError(f"expected an (H, W, 3) RGB image, got shape {tuple(image.shape)}")
        self.reset_image()
        model, decoder = self.model, self.model.sam_mask_decoder
        with encoder_blocks_mapped(), torch.inference_mode():
            x = preprocess_image(image, model.image_size, device=self.device).to(self.dtype)
            levels = model.image_encoder(x, with_pos=False).backbone_fpn
            del x
            # Meta's forward_image + _prepare_backbone_features, in the decoder's precision:
            # the stride-4 and stride-8 levels through the decoder's conv_s0 / conv_s1, and
            # no_mem_embed added to the stride-16 level
            levels = [level.to(self.decoder_dtype) for level in levels]
            if model.use_high_res_features_in_sam:
                levels[0] = decoder.conv_s0(levels[0])
                levels[1] = decoder.conv_s1(levels[1])
            self._features = model.features(levels)
            self._dense_pe = model.sam_prompt_encoder.get_dense_pe().to(self.decoder_dtype)
        self.original_size = (int(image.shape[0]), int(image.shape[1]))

    def reset_image(self) -> None:
        """Forget the current image."""
        self._features = None
        self._dense_pe = None
        self.original_size = None

    @property
    def is_image_set(self) -> bool:
        return self._features is not None

    @property
    def image_embedding(self) -> torch.Tensor:
        """The current image's embedding (``no_mem_embed`` added), float32 (1, 256, 64, 64)."""
        if self._features is None:
            raise RuntimeError("no image set: call set_image() first")
        return self._features.image_embed.float()

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
        """Decode a batch of B prompts (``SAM2ImagePredictor._predict`` up to the low-res
        logits).

        Args:
            point_coords: (B, N, 2) float (x, y) in original-image pixels, or None.
            point_labels: (B, N) int, 1 foreground / 0 background (-1 padding).
            boxes: (B, 4) xyxy in original-image pixels, or None (each box becomes two corner
                points placed before the clicks, as the reference does).
            mask_input: (B, 1, 256, 256) low-res logits (see :meth:`as_mask_input`), or None.
            multimask_output: three masks per prompt (True) or one (False; see the module
                docstring for SAM 2's dynamic choice).
            iou_floor: a promise that masks whose predicted IoU is not above it will be
                dropped unread (everything-mode's filter): a prompt none of whose masks pass
                is not upscaled, and its logits come back NaN. None: all computed.
            upscaled_only: SAM 1's promise that only the upscaled area will be read (see
                ``Predictor.predict``); no effect here: SAM 2's input frame is the whole
                image, stretched, with no padding to skip.

        Returns:
            low_res_logits float32 (B, C, 256, 256), not clamped, and iou_predictions float32
            (B, C), C = 3 or 1.
        """
        if self._features is None or self.original_size is None:
            raise RuntimeError("no image set: call set_image() before predict()")
        dev, size = self.device, self.original_size
        coords = labels = box_t = mask_t = None
        batch: int | None = None
        if point_coords is not None:
            if point_labels is None:
                raise ValueError("point_labels are required with point_coords")
            coords = _as_tensor(point_coords, torch.float32, dev)
            labels = _as_tensor(point_labels, torch.int32, dev)
            if coords.ndim != 3 or coords.shape[-1] != 2:
                raise ValueError(f"point_coords must be (B, N, 2), got {tuple(coords.shape)}")
            if labels.shape != coords.shape[:2]:
                raise ValueError(
                    f"point_labels must be (B, N) = {tuple(coords.shape[:2])}, "
                    f"got {tuple(labels.shape)}"
                )
            coords = transform_coords(coords, size, self.model.image_size)
            batch = coords.shape[0]
        if boxes is not None:
            box_t = _as_tensor(boxes, torch.float32, dev)
            if box_t.ndim != 2 or box_t.shape[-1] != 4:
                raise ValueError(f"boxes must be (B, 4), got {tuple(box_t.shape)}")
            if batch is not None and box_t.shape[0] != batch:
                raise ValueError("boxes and point prompts must have the same batch size")
            box_t = transform_boxes(box_t, size, self.model.image_size)
            batch = box_t.shape[0]
        if mask_input is not None:
            mask_t = _as_tensor(mask_input, torch.float32, dev)
            if mask_t.ndim != 4 or mask_t.shape[1] != 1:
                raise ValueError(f"mask_input must be (B, 1, 256, 256), got {tuple(mask_t.shape)}")
            if batch is not None and mask_t.shape[0] != batch:
                raise ValueError("mask_input and the other prompts must have the same batch size")
        with torch.inference_mode():
            sparse, dense = self.model.embed_prompts(coords, labels, box_t, mask_t)
            sparse = sparse.to(self.decoder_dtype)
            if dense.shape[0] > 1 and dense.stride(0) == 0:  # the "no mask" map, broadcast
                dense = dense[:1].to(self.decoder_dtype).expand_as(dense)
            else:
                dense = dense.to(self.decoder_dtype)
            features = self._features
            parts = []
            for s, e in _sub_batches(sparse.shape[0], self.decoder_batch):
                low_res, iou, _ = self.model.sam_mask_decoder(
                    image_embeddings=features.image_embed,
                    image_pe=self._dense_pe,
                    sparse_prompt_embeddings=sparse[s:e],
                    dense_prompt_embeddings=dense[s:e],
                    multimask_output=multimask_output,
                    high_res_features=features.high_res_feats or None,
                    product_dtype=self.decoder_products,
                    iou_floor=iou_floor,
                )
                parts.append((low_res.float(), iou.float()))
        if len(parts) == 1:
            return parts[0]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    @staticmethod
    def as_mask_input(low_res_logits: torch.Tensor) -> torch.Tensor:
        """Low-res logits as a mask prompt: clamped to +-32, as ``SAM2ImagePredictor``
        returns them for feeding back (mask-to-mask refinement)."""
        return clamp_low_res_logits(low_res_logits)

    def clean_low_res(self, low_res_logits: torch.Tensor, fill_area: float = 0.0) -> torch.Tensor:
        """Low-res logits (B, C, 256, 256) as float32 on the device, with holes and islands of
        at most ``fill_area`` low-res pixels filled / removed first when ``fill_area`` > 0 (see
        :meth:`upscale`)."""
        x = low_res_logits.to(device=self.device, dtype=torch.float32)
        if fill_area > 0:
            x = fill_holes_and_sprinkles(x, PREDICTOR_THRESHOLD, fill_area, fill_area)
        return x

    def window_resize(self, low_size: tuple[int, int]) -> WindowResize:
        """:meth:`upscale` as per-axis taps, from low-res logits of ``low_size`` (h, w) to the
        current image, for upscaling windows of it (:mod:`samcli.mask_windows`: the same
        values, mask by mask)."""
        if self.original_size is None:
            raise RuntimeError("no image set: call set_image() first")
        return WindowResize(rows=AxisResize((axis_taps(low_size[0], self.original_size[0]),)),
                            cols=AxisResize((axis_taps(low_size[1], self.original_size[1]),)))

    def upscale(self, low_res_logits: torch.Tensor, fill_area: float = 0.0) -> torch.Tensor:
        """Low-res logits (B, C, 256, 256) -> float32 logits (B, C, H, W) at original size:
        one bilinear resize (align_corners=False), as ``SAM2Transforms.postprocess_masks``.

        ``fill_area`` > 0 first fills holes and removes islands of at most that many low-res
        pixels (8-connected, measured at :data:`PREDICTOR_THRESHOLD`) in the logits: the
        reference's ``max_hole_area`` / ``max_sprinkle_area``, which its everything-mode sets
        to ``min_mask_region_area``. Masks are resized a bounded number at a time (each on its
        own, so the values do not depend on the chunking).
        """
        if self.original_size is None:
            raise RuntimeError("no image set: call set_image() first")
        x = self.clean_low_res(low_res_logits, fill_area)
        out_h, out_w = self.original_size
        b, c = x.shape[:2]
        x = x.reshape(b * c, 1, *x.shape[-2:])
        step = max(1, UPSCALE_CHUNK_BYTES // (4 * out_h * out_w))
        if step >= b * c:
            out = F.interpolate(x, (out_h, out_w), mode="bilinear", align_corners=False)
            return out.view(b, c, out_h, out_w)
        out = torch.empty(b * c, 1, out_h, out_w, dtype=torch.float32, device=x.device)
        for s in range(0, b * c, step):
            out[s:s + step] = F.interpolate(x[s:s + step], (out_h, out_w), mode="bilinear",
                                            align_corners=False)
        return out.view(b, c, out_h, out_w)
