"""The image path of SAM 2 (``SAM2Base`` as ``SAM2ImagePredictor`` uses it).

Coordinate frames
-----------------
* original image: (H, W) pixels as read from disk;
* model input frame: the image resized (not letterboxed: the aspect ratio changes) to
  S x S = 1024 x 1024; prompt coordinates are (x, y) pixels of this frame, i.e. original
  coordinates divided by (W, H) and multiplied by S (see :mod:`samcli.model.sam2.transforms`);
* low-res mask frame: the decoder's (256, 256) logits cover the same S x S square, so they are
  upsampled straight to (H, W) (no crop, unlike SAM 1's padded input).

State-dict keys match the image-path subset of Meta's checkpoints: ``image_encoder.*``,
``sam_prompt_encoder.*``, ``sam_mask_decoder.*`` and ``no_mem_embed``; the video-only modules
are left out (see :mod:`samcli.model.sam2.checkpoint`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from .image_encoder import ImageEncoder
from .mask_decoder import Sam2MaskDecoder
from .prompt_encoder import Sam2PromptEncoder


class Sam2Features(NamedTuple):
    """What the image predictor keeps per image (``SAM2ImagePredictor._features``).

    image_embed: float (B, 256, 64, 64), the stride-16 level plus ``no_mem_embed``.
    high_res_feats: [(B, 32, 256, 256), (B, 64, 128, 128)], the stride-4 and stride-8 levels
    after the decoder's ``conv_s0`` / ``conv_s1`` (empty without high-resolution features).
    """

    image_embed: torch.Tensor
    high_res_feats: list[torch.Tensor]


class Sam2Prediction(NamedTuple):
    """Decoder outputs for B prompts (M = 3 with multimask output, else 1).

    low_res_logits: float (B, M, 256, 256) mask logits over the model input square, not
    clamped (the reference predictor upsamples these, and returns them clamped to +-32; see
    :func:`samcli.model.sam2.transforms.clamp_low_res_logits`).
    iou_predictions: (B, M) predicted IoU in [0, 1] (sigmoid head).
    object_score_logits: (B, 1), > 0 when the model sees an object (the image predictor
    ignores it; SAM 2's video tracker replaces the masks of absent objects).
    """

    low_res_logits: torch.Tensor
    iou_predictions: torch.Tensor
    object_score_logits: torch.Tensor


class Sam2(nn.Module):
    """SAM 2 image model: image encoder, prompt encoder, mask decoder and ``no_mem_embed``.

    ``no_mem_embed`` (1, 1, C) is the "no memory" token the video model adds to the lowest-
    resolution features of a frame without memories; with ``directly_add_no_mem_embed`` (all
    official configs) the image predictor adds it to every image embedding, and so does
    :meth:`encode_image`.
    """

    mask_threshold: float = 0.0
    image_format: str = "RGB"

    def __init__(
        self,
        image_encoder: ImageEncoder,
        sam_prompt_encoder: Sam2PromptEncoder,
        sam_mask_decoder: Sam2MaskDecoder,
        *,
        image_size: int = 1024,
        use_high_res_features_in_sam: bool = True,
        directly_add_no_mem_embed: bool = True,
    ) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.sam_prompt_encoder = sam_prompt_encoder
        self.sam_mask_decoder = sam_mask_decoder
        hidden = image_encoder.neck.d_model
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, hidden))
        nn.init.trunc_normal_(self.no_mem_embed, std=0.02)
        self.image_size = image_size
        self.use_high_res_features_in_sam = use_high_res_features_in_sam
        self.directly_add_no_mem_embed = directly_add_no_mem_embed

    @property
    def device(self) -> Any:
        return self.no_mem_embed.device

    @property
    def img_size(self) -> int:
        """Side of the square model input (1024)."""
        return self.image_size

    def forward_image(self, x: torch.Tensor, *, with_pos: bool = False):
        """``SAM2Base.forward_image``: x (B, 3, S, S) normalised -> (backbone_fpn, pos).

        backbone_fpn: [(B, 32, S/4, S/4), (B, 64, S/8, S/8), (B, 256, S/16, S/16)] with the
        two high-resolution levels already through ``conv_s0`` / ``conv_s1`` (when
        ``use_high_res_features_in_sam``; else all three are (B, 256, ...)). pos: the
        neck's sine encodings of the three levels (before those convolutions), or None.
        """
        fpn, pos = self.image_encoder(x, with_pos=with_pos)
        fpn = list(fpn)
        if self.use_high_res_features_in_sam:
            fpn[0] = self.sam_mask_decoder.conv_s0(fpn[0])
            fpn[1] = self.sam_mask_decoder.conv_s1(fpn[1])
        return fpn, pos

    def features(self, backbone_fpn: list[torch.Tensor]) -> Sam2Features:
        """The predictor's per-image features from :meth:`forward_image`'s levels."""
        embed = backbone_fpn[-1]
        if self.directly_add_no_mem_embed:
            embed = embed + self.no_mem_embed.view(1, -1, 1, 1).to(embed.dtype)
        high_res = list(backbone_fpn[:-1]) if self.use_high_res_features_in_sam else []
        return Sam2Features(embed, high_res)

    def encode_image(self, x: torch.Tensor) -> Sam2Features:
        """``SAM2ImagePredictor.set_image`` after its transforms: x float (B, 3, S, S)
        normalised (see :func:`samcli.model.sam2.transforms.preprocess_image`) ->
        (image_embed (B, 256, 64, 64), [(B, 32, 256, 256), (B, 64, 128, 128)])."""
        fpn, _ = self.forward_image(x, with_pos=False)
        return self.features(fpn)

    def embed_prompts(
        self,
        point_coords: torch.Tensor | None = None,
        point_labels: torch.Tensor | None = None,
        boxes: torch.Tensor | None = None,
        mask_input: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sparse (B, N, C) and dense (B, C, 64, 64) prompt embeddings, as ``_predict`` makes them.

        point_coords (B, N, 2) float and point_labels (B, N) int (1 positive, 0 negative,
        -1 padding), boxes (B, 4) xyxy: all in the model input frame. A box becomes two
        corner points labelled 2 and 3, placed before the clicks. mask_input: (B, 1, 256, 256)
        low-res logits (a previous prediction). The dense embedding without a mask is a
        stride-0 broadcast of the learned "no mask" map.
        """
        points = None
        if point_coords is not None:
            if point_labels is None:
                raise ValueError("point_labels must be given with point_coords")
            points = (point_coords, point_labels)
        if boxes is not None:
            corners = boxes.reshape(-1, 2, 2)
            corner_labels = torch.tensor([[2, 3]], dtype=torch.int, device=boxes.device)
            corner_labels = corner_labels.repeat(corners.shape[0], 1)
            if points is not None:
                points = (torch.cat([corners, points[0]], dim=1),
                          torch.cat([corner_labels, points[1].to(corner_labels.dtype)], dim=1))
            else:
                points = (corners, corner_labels)
        return self.sam_prompt_encoder(points=points, boxes=None, masks=mask_input)

    def decode(
        self,
        features: Sam2Features,
        point_coords: torch.Tensor | None = None,
        point_labels: torch.Tensor | None = None,
        boxes: torch.Tensor | None = None,
        mask_input: torch.Tensor | None = None,
        multimask_output: bool = True,
        product_dtype: torch.dtype | None = None,
    ) -> Sam2Prediction:
        """``SAM2ImagePredictor._predict`` up to the low-res logits (see :meth:`embed_prompts`
        for the prompts and their frame).

        ``features`` holds one image (batch 1, shared by all B prompts: the reference's
        ``repeat_image``) or one image per prompt (batch B). Returns a
        :class:`Sam2Prediction`: low-res logits (B, M, 256, 256), IoU (B, M), object-score
        logits (B, 1). A single-mask request may return a multimask output for prompts whose
        single mask is unstable (``dynamic_multimask_via_stability``, on in SAM 2's builder).
        """
        sparse, dense = self.embed_prompts(point_coords, point_labels, boxes, mask_input)
        masks, iou, obj = self.sam_mask_decoder(
            image_embeddings=features.image_embed,
            image_pe=self.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
            high_res_features=features.high_res_feats or None,
            product_dtype=product_dtype,
        )
        return Sam2Prediction(masks, iou, obj)
