"""SAM 2's prompt encoder: SAM's, plus box corners given as labelled points.

Same parameters, key names and arithmetic as :class:`samcli.model.prompt_encoder.PromptEncoder`
(``sam_prompt_encoder.*`` in SAM 2 checkpoints). The one difference is in the point labels:

* -1 padding ("not a point": positional part replaced by ``not_a_point_embed``),
* 0 negative point, 1 positive point (``point_embeddings[0]`` / ``[1]`` added),
* 2 top-left box corner, 3 bottom-right box corner (``point_embeddings[2]`` / ``[3]`` added).

SAM 2's image predictor passes boxes this way (corners first, then the clicks, ``boxes=None``),
so a padding point is appended even when a box is given. Coordinates are (x, y) pixels in the
1024 x 1024 model input frame (see :mod:`samcli.model.sam2.transforms`); a point is taken at
its pixel's centre (+0.5).
"""

from __future__ import annotations

import torch

from ..prompt_encoder import PromptEncoder


class Sam2PromptEncoder(PromptEncoder):
    """:class:`PromptEncoder` accepting box-corner labels 2 and 3 (see the module docstring)."""

    def _embed_points(self, points: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        """points (B, N, 2) input-frame pixels, labels (B, N) in {-1, 0, 1, 2, 3} ->
        (B, N(+1), C); with ``pad`` a padding point (label -1) is appended."""
        emb = super()._embed_points(points, labels, pad)
        if pad:
            labels = torch.cat([labels, labels.new_full((labels.shape[0], 1), -1)], dim=1)
        lab = labels.unsqueeze(-1)
        emb = torch.where(lab == 2, emb + self.point_embeddings[2].weight, emb)
        return torch.where(lab == 3, emb + self.point_embeddings[3].weight, emb)
