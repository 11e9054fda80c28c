"""Masks <-> polygons in pixel space.

Conventions (every function here keeps them):

- **Pixel corners.** Pixel ``(col, row)`` is the unit square ``[col, col+1] x [row, row+1]``,
  x to the right, y down. A mask of the single pixel ``(0, 0)`` is the ring
  ``(0,0) (1,0) (1,1) (0,1) (0,0)``. Polygons from :func:`mask_to_geometry` with
  ``simplify=0`` follow pixel edges exactly, so :func:`geometry_to_mask` (a pixel is inside when
  its centre is inside) gives back the very same mask.
- **GeoJSON geometry dicts**: ``{"type": "Polygon", "coordinates": [ring, hole, ...]}`` or
  ``{"type": "MultiPolygon", "coordinates": [[ring, hole, ...], ...]}``; rings are closed (last
  point = first), exterior rings have positive signed (shoelace) area, i.e. counter-clockwise in
  the usual x-right/y-up sense of RFC 7946 (clockwise on screen, where y points down), holes the
  opposite. Every ring starts at its top-most, then left-most vertex. Parts are sorted by area,
  largest first. No two consecutive vertices are equal and no vertex is collinear with its
  neighbours (exact pixel-edge polygons therefore only have corner vertices).
- **Connectivity.** Each part of a MultiPolygon is one 4-connected component of the mask
  (pixels sharing an edge). Two pixels that meet only at a corner belong to different parts,
  which touch at that point: the mask of pixels (0, 0) and (1, 1) is a MultiPolygon of two unit
  squares. A background region that reaches the outside only through such a corner is a hole
  touching its shell at that point. Every geometry returned is ``shapely.is_valid`` (touching
  at isolated points is allowed by the OGC rules shapely checks).

Modules, one idea each (they import one another only downwards, in this order; the package
imports nothing else from samcli):

- :mod:`~samcli.geometry.rings`: ring helpers (cleaning, orientation), sets of rings as flat
  arrays, shapely conversions;
- :mod:`~samcli.geometry.tracing`: exact pixel-edge tracing of a mask window into parts;
- :mod:`~samcli.geometry.simplify`: pixel staircases to straight runs, tolerance
  simplification ring by ring;
- :mod:`~samcli.geometry.fit`: ``--max-vertices``, fitting parts to a vertex budget;
- :mod:`~samcli.geometry.geojson`: parts to GeoJSON dicts, number formatting;
- :mod:`~samcli.geometry.convert`: :func:`mask_to_geometry`, the pipeline of the above;
- :mod:`~samcli.geometry.raster`: :func:`geometry_to_mask`;
- :mod:`~samcli.geometry.yolo`: :func:`geometry_to_yolo_ring`, the one-ring bridge of YOLO
  segment labels.
"""

from samcli.geometry.convert import mask_to_geometry
from samcli.geometry.raster import geometry_to_mask
from samcli.geometry.yolo import geometry_to_yolo_ring

__all__ = ["geometry_to_mask", "geometry_to_yolo_ring", "mask_to_geometry"]
