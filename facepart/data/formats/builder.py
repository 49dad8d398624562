"""The last step of every model loader: frame check, outward winding, metadata, :class:`FaceModel`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..face_model import NEUTRAL_SKIN, FaceModel
from ..regions import fix_sides
from ..textures import tone_basis
from ..topology import topology_name
from .frame import UNIT_SCALE, frame_rotation, orient_outward, plausible_unit, rotate


def make_model(path: Path, *, fmt: str, version: str, units: str, vertices: np.ndarray, triangles_: np.ndarray,
               identity_basis=None, expression_basis=None, expression_kind: str = "pca",
               expression_names=(), albedo=None, albedo_basis=None, uv=None, landmarks68=None,
               render_mask=None, vote_mask=None, eyeball_mask=None, region_sets=None, notes: list[str] | None = None,
               fix_frame: bool = False, topology: str | None = None, extra_meta: dict | None = None,
               name: str | None = None):
    """Finish a loader: check the axes with the landmarks (rotating only if ``fix_frame``), make the
    winding outward, fill the metadata and build the :class:`FaceModel`.

    ``vertices`` and the bases must already be in metres (read in the format's ``units``) and in the
    documented frame. A model that would then not be head-sized (8 cm to 80 cm) is read in the unit under
    which it is, with a note.
    """
    notes = list(notes or [])
    vertices = np.asarray(vertices, np.float64)
    # a file stored in another unit than its format documents (a Deep3D file in metres, a FLAME file in mm):
    # read it in the unit under which it is head-sized, as the loaders that check their own unit do (a head of
    # 2 cm or 200 m renders and votes, but every size-based step, like the graph cut, then goes wrong)
    extent = float(np.ptp(vertices, axis=0).max()) if len(vertices) else 0.0
    unit = plausible_unit(extent / UNIT_SCALE[units], units, notes)
    if unit != units:
        factor = UNIT_SCALE[unit] / UNIT_SCALE[units]
        vertices = vertices * factor
        identity_basis = None if identity_basis is None else np.asarray(identity_basis) * factor
        expression_basis = None if expression_basis is None else np.asarray(expression_basis) * factor
        units = unit
    rot = frame_rotation(vertices, landmarks68, notes, fix_frame)
    if rot is not None:
        vertices = rotate(vertices, rot)
        identity_basis, expression_basis = rotate(identity_basis, rot), rotate(expression_basis, rot)
    triangles_ = orient_outward(vertices, np.asarray(triangles_, np.int64), notes)
    for rs in region_sets or []:
        rs.check(len(vertices))
        rs.regions = fix_sides(rs.regions, vertices, rs.notes)
    if albedo_basis is None:  # texture variety for models without a colour PCA
        base = albedo if albedo is not None else None
        if base is None:
            base = np.broadcast_to(NEUTRAL_SKIN, vertices.shape)
        albedo_basis = tone_basis(base)
        notes.append("no colour PCA: variants vary the skin tone (3 global modes) around "
                     + ("the model's colours" if albedo is not None else "a neutral skin shading"))
    n = len(vertices)
    meta = {"format": fmt, "version": version, "units": units, "path": str(path), "n_vertices": n,
            "topology": topology or topology_name(n), "notes": notes, **(extra_meta or {})}
    return FaceModel(
        name=name or path.stem, vertices=vertices, triangles=triangles_, identity_basis=identity_basis,
        expression_basis=expression_basis, expression_kind=expression_kind,
        expression_names=tuple(expression_names), albedo=albedo, albedo_basis=albedo_basis, uv=uv,
        landmarks68=landmarks68, render_mask=render_mask, vote_mask=vote_mask, eyeball_mask=eyeball_mask, meta=meta,
        region_sets={rs.name: rs for rs in (region_sets or [])})
