"""SAM 2's two-way transformer: SAM's, with the token MLP stored as ``mlp.layers.{0,1}``.

SAM 2 keeps SAM's ``TwoWayTransformer`` layout (blocks of self-attention, token -> image,
MLP, image -> token attention, then a final token -> image attention; 2 blocks, width 256,
8 heads, MLP 2048, attention downsample rate 2) and its arithmetic: the only change is the
MLP class of each block, whose two linear layers are named ``layers.0`` / ``layers.1`` instead
of ``lin1`` / ``lin2`` (``lin2(relu(lin1(x)))`` either way). So the samcli transformer (and its
shared-image and re-associated attention paths, see :mod:`samcli.model.transformer`) is reused
with the MLPs swapped for :class:`samcli.model.common.MLP`, which has SAM 2's key names.
"""

from __future__ import annotations

from torch import nn

from ..common import MLP
from ..transformer import TwoWayTransformer


class Sam2TwoWayTransformer(TwoWayTransformer):
    """:class:`TwoWayTransformer` with SAM 2's MLP key names (ReLU MLPs only, as in SAM 2)."""

    def __init__(
        self,
        depth: int,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int,
        attention_downsample_rate: int = 2,
    ) -> None:
        super().__init__(
            depth=depth,
            embedding_dim=embedding_dim,
            num_heads=num_heads,
            mlp_dim=mlp_dim,
            activation=nn.ReLU,
            attention_downsample_rate=attention_downsample_rate,
        )
        for layer in self.layers:
            layer.mlp = MLP(embedding_dim, mlp_dim, embedding_dim, num_layers=2)
