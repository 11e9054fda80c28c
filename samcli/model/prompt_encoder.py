"""Prompt encoder: points, boxes and low-resolution mask prompts -> decoder inputs.

Coordinate frame: point and box coordinates are (x, y) pixels in the *model input* frame
(the image after resize-longest-side to 1024, before padding), float. A point's position
is taken at its pixel's centre (+0.5), then normalised by the input size (1024) to [0, 1]
and encoded with random Fourier features.

Outputs: sparse embeddings (B, N, C) (points, then the two box corners) and dense
embeddings (B, C, 64, 64) (an encoded mask prompt, or the learned "no mask" vector
broadcast: a stride-0 expanded view in that case).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .common import LayerNorm2d


class PositionEmbeddingRandom(nn.Module):
    """Positional encoding with random spatial frequencies (Tancik et al.).

    ``positional_encoding_gaussian_matrix`` (2, F) is a persistent buffer drawn at
    construction (and overwritten by a checkpoint). Coordinates in [0, 1]^2 are mapped to
    [-1, 1], projected to F frequencies and encoded as [sin, cos] (2F channels).
    """

    def __init__(self, num_pos_feats: int = 64, scale: float | None = None) -> None:
        super().__init__()
        if scale is None or scale <= 0.0:
            scale = 1.0
        # In place: the same numbers as ``scale * randn``, and on the meta device no Python
        # reference op (whose first use imports torch._dynamo; see tiny_vit.offset_bias_index)
        self.register_buffer(
            "positional_encoding_gaussian_matrix", torch.randn((2, num_pos_feats)).mul_(scale)
        )

    def _encode(self, coords: torch.Tensor) -> torch.Tensor:
        """coords (..., 2) in [0, 1] (x, y) -> (..., 2F) float."""
        coords = 2 * coords - 1
        coords = coords @ self.positional_encoding_gaussian_matrix
        coords = 2 * math.pi * coords
        return torch.cat([torch.sin(coords), torch.cos(coords)], dim=-1)

    def forward(self, size: tuple[int, int]) -> torch.Tensor:
        """Dense encoding of an (h, w) grid of cell centres -> (2F, h, w)."""
        h, w = size
        device = self.positional_encoding_gaussian_matrix.device
        ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h
        xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w
        grid = torch.stack(
            [xs.view(1, w).expand(h, w), ys.view(h, 1).expand(h, w)], dim=-1
        )  # (h, w, 2) as (x, y)
        return self._encode(grid).permute(2, 0, 1)

    def forward_with_coords(
        self, coords_input: torch.Tensor, image_size: tuple[int, int]
    ) -> torch.Tensor:
        """Encode pixel coordinates (B, N, 2) (x, y) in a frame of size (H, W) -> (B, N, 2F)."""
        coords = coords_input.to(torch.float32)
        coords = torch.stack(
            [coords[..., 0] / image_size[1], coords[..., 1] / image_size[0]], dim=-1
        )
        return self._encode(coords)


class PromptEncoder(nn.Module):
    """Encodes prompts for SAM's mask decoder (reference parameter names).

    Args:
        embed_dim: prompt embedding width C (256).
        image_embedding_size: (h, w) of the image embedding (64, 64).
        input_image_size: (H, W) of the padded model input (1024, 1024).
        mask_in_chans: hidden channels of the mask-prompt downscaler (16).
    """

    def __init__(
        self,
        embed_dim: int,
        image_embedding_size: tuple[int, int],
        input_image_size: tuple[int, int],
        mask_in_chans: int,
        activation: type[nn.Module] = nn.GELU,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.input_image_size = input_image_size
        self.image_embedding_size = image_embedding_size
        self.pe_layer = PositionEmbeddingRandom(embed_dim // 2)
        self.num_point_embeddings = 4  # negative point, positive point, box corner 1, corner 2
        self.point_embeddings = nn.ModuleList(
            nn.Embedding(1, embed_dim) for _ in range(self.num_point_embeddings)
        )
        self.not_a_point_embed = nn.Embedding(1, embed_dim)
        self.mask_input_size = (4 * image_embedding_size[0], 4 * image_embedding_size[1])
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_in_chans // 4, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans // 4),
            activation(),
            nn.Conv2d(mask_in_chans // 4, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            activation(),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)

    def get_dense_pe(self) -> torch.Tensor:
        """Positional encoding of the image-embedding grid, (1, C, h, w)."""
        return self.pe_layer(self.image_embedding_size).unsqueeze(0)

    def _embed_points(self, points: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        """points (B, N, 2) input-frame pixels, labels (B, N) -> (B, N(+1), C).

        Label 1: foreground, 0: background, -1: padding ("not a point"; its positional part is
        zeroed). With ``pad`` a padding point is appended (used when no box follows).
        """
        points = points.to(torch.float32) + 0.5
        if pad:
            b = points.shape[0]
            points = torch.cat([points, points.new_zeros(b, 1, 2)], dim=1)
            labels = torch.cat([labels, labels.new_full((b, 1), -1)], dim=1)
        emb = self.pe_layer.forward_with_coords(points, self.input_image_size)
        lab = labels.unsqueeze(-1)
        emb = torch.where(lab == -1, self.not_a_point_embed.weight.to(emb.dtype), emb)
        emb = torch.where(lab == 0, emb + self.point_embeddings[0].weight, emb)
        emb = torch.where(lab == 1, emb + self.point_embeddings[1].weight, emb)
        return emb

    def _embed_boxes(self, boxes: torch.Tensor) -> torch.Tensor:
        """boxes (B, 4) xyxy input-frame pixels -> corner embeddings (B, 2, C)."""
        corners = (boxes.to(torch.float32) + 0.5).reshape(-1, 2, 2)
        emb = self.pe_layer.forward_with_coords(corners, self.input_image_size)
        corner_type = torch.cat(
            [self.point_embeddings[2].weight, self.point_embeddings[3].weight], dim=0
        )
        return emb + corner_type

    def _embed_masks(self, masks: torch.Tensor) -> torch.Tensor:
        """masks (B, 1, 4h, 4w) logits -> (B, C, h, w)."""
        return self.mask_downscaling(masks)

    @staticmethod
    def _batch_size(
        points: tuple[torch.Tensor, torch.Tensor] | None,
        boxes: torch.Tensor | None,
        masks: torch.Tensor | None,
    ) -> int:
        if points is not None:
            return points[0].shape[0]
        if boxes is not None:
            return boxes.shape[0]
        if masks is not None:
            return masks.shape[0]
        return 1

    def _get_device(self) -> torch.device:
        return self.point_embeddings[0].weight.device

    def forward(
        self,
        points: tuple[torch.Tensor, torch.Tensor] | None,
        boxes: torch.Tensor | None,
        masks: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns sparse (B, N, C) and dense (B, C, h, w) embeddings (see module docstring)."""
        bs = self._batch_size(points, boxes, masks)
        parts = []
        if points is not None:
            coords, labels = points
            parts.append(self._embed_points(coords, labels, pad=boxes is None))
        if boxes is not None:
            parts.append(self._embed_boxes(boxes))
        if parts:
            sparse = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        else:
            sparse = torch.empty((bs, 0, self.embed_dim), device=self._get_device())
        if masks is not None:
            dense = self._embed_masks(masks)
        else:
            h, w = self.image_embedding_size
            dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(bs, -1, h, w)
        return sparse, dense
