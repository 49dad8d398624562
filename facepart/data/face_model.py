"""The face-model abstraction every loader returns.

One frame for all models: +x the subject's left, +y up, +z toward the viewer,
metres. Indices are 0-based; triangles wind counter-clockwise seen from
outside (outward normals).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from ..checks import check_array, check_finite, check_index_array, check_indices, check_shape
from ..errors import FacepartError
from ..geometry import triangle_normals
from .topology import Fingerprint

#: Neutral skin albedo (linear-ish RGB in [0, 1]) for models without colour.
NEUTRAL_SKIN = np.array([0.80, 0.62, 0.52], dtype=np.float32)

#: A triangle whose doubled area is below this share of the squared mesh extent counts as degenerate.
DEGENERATE_AREA = 1e-12


@dataclass
class FaceModel:
    """A morphable face model in facepart's frame.

    Attributes:
        name: short name for summaries.
        vertices: (V, 3) float32 mean shape, metres.
        triangles: (F, 3) int64, 0-based, outward winding.
        identity_basis: (K_id, V, 3) float32; a coefficient ~ N(0, 1) is one std dev.
        expression_basis: (K_exp, V, 3) float32.
        expression_kind: "pca" (coefficients ~ N(0, 1)) or "blendshape" (weights in [0, 1]).
        expression_names: K_exp names (may be empty for PCA).
        albedo: (V, 3) float32 in [0, 1], or None for a neutral skin tone.
        albedo_basis: (K_tex, V, 3) float32, coefficient ~ N(0, 1), or None.
        uv: (V, 2) float32 texture coordinates, or None.
        landmarks68: (68,) int64 vertex ids in iBUG/Multi-PIE order, or None.
        render_mask: (V,) bool, vertices whose triangles are drawn (all three corners in it).
        vote_mask: (V,) bool, vertices that may receive part votes (not eyeballs, teeth...).
        eyeball_mask: (V,) bool, eyeball vertices: seen through the eye opening, they may
            receive eye votes when a run allows it (``AnnotateSettings.eyeballs``).
        region_sets: region sets the model's files already carry (3DDFA-V3 annotation,
            FLAME_masks.pkl, BFM segbin...), by name; see :mod:`facepart.data.regions`.
        meta: format, version, original units, source path, topology, notes (list of
            str: what a loader assumed or corrected) and anything a loader knows.
    """

    name: str
    vertices: np.ndarray
    triangles: np.ndarray
    identity_basis: np.ndarray | None = None
    expression_basis: np.ndarray | None = None
    expression_kind: str = "pca"
    expression_names: tuple[str, ...] = ()
    albedo: np.ndarray | None = None
    albedo_basis: np.ndarray | None = None
    uv: np.ndarray | None = None
    landmarks68: np.ndarray | None = None
    render_mask: np.ndarray | None = None
    vote_mask: np.ndarray | None = None
    eyeball_mask: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    region_sets: dict = field(default_factory=dict)

    def __post_init__(self):
        src = self.meta.get("path", self.name)
        self.vertices = check_finite(
            check_shape(self.vertices, ("V", 3), f"{src}: vertices").astype(np.float32), f"{src}: vertices"
        )
        v = self.vertices.shape[0]
        if v == 0:
            raise FacepartError(f"{src}: the model has no vertices")
        self.triangles = check_indices(np.asarray(self.triangles, dtype=np.int64), v, f"{src}: triangles")
        if self.triangles.shape[0] == 0:
            raise FacepartError(f"{src}: the model has no triangles")
        has_area = self._check_geometry(src)
        self.identity_basis = self._basis(self.identity_basis, "identity basis")
        self.expression_basis = self._basis(self.expression_basis, "expression basis")
        if self.albedo_basis is not None:
            self.albedo_basis = self._basis(self.albedo_basis, "albedo basis")
        if self.expression_kind not in ("pca", "blendshape"):
            raise FacepartError(f"{src}: expression_kind must be 'pca' or 'blendshape'")
        if self.albedo is not None:
            albedo = check_finite(check_array(self.albedo, "biuf", (v, 3), f"{src}: albedo"), f"{src}: albedo")
            self.albedo = np.clip(albedo, 0, 1).astype(np.float32)
        if self.uv is not None:
            self.uv = check_finite(check_array(self.uv, "iuf", (v, 2), f"{src}: uv"), f"{src}: uv").astype(np.float32)
        for name, default in (("render_mask", True), ("vote_mask", True), ("eyeball_mask", False)):
            mask = getattr(self, name)
            mask = np.full(v, default) if mask is None else check_shape(mask, (v,), f"{src}: {name}").astype(bool)
            setattr(self, name, mask)
        if not np.any(has_area[self.render_triangles]):
            raise FacepartError(f"{src}: no triangle with an area is drawn (render_mask keeps "
                                f"{int(self.render_mask.sum())} of {v} vertices); nothing would be rendered")
        if self.landmarks68 is not None:
            self.landmarks68 = check_index_array(self.landmarks68, v, f"{src}: landmarks68", shape=(68,))
            if np.ptp(self.vertices[self.landmarks68], axis=0).max() == 0:
                raise FacepartError(f"{src}: the 68 landmarks all sit at one point; they cannot frame the face")
        for region_set in self.region_sets.values():
            region_set.check(v)

    def _check_geometry(self, src: str) -> np.ndarray:
        """(F,) bool: triangles with an area. A mesh that cannot be rendered (every vertex at one point, every
        triangle without area) is an error."""
        extent = float(np.ptp(self.vertices, axis=0).max())
        if extent == 0:
            where = ", ".join(f"{x:g}" for x in self.vertices[0])
            raise FacepartError(f"{src}: all {self.vertices.shape[0]} vertices sit at one point ({where}); "
                                "expected a face mesh")
        area2 = np.linalg.norm(triangle_normals(self.vertices, self.triangles, unit=False), axis=1)
        has_area = area2 > DEGENERATE_AREA * extent * extent
        if not has_area.any():
            raise FacepartError(f"{src}: all {self.triangles.shape[0]} triangles are degenerate (no area: repeated "
                                "or collinear corners); expected a face mesh")
        return has_area

    def _basis(self, basis, what: str) -> np.ndarray:
        v = self.vertices.shape[0]
        if basis is None:
            return np.zeros((0, v, 3), np.float32)
        src = self.meta.get("path", self.name)
        basis = np.asarray(check_shape(basis, ("K", v, 3), f"{src}: {what}"), dtype=np.float32)  # no copy if f32
        return check_finite(basis, f"{src}: {what}")

    # -- derived -----------------------------------------------------------
    @property
    def n_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def fingerprint(self) -> Fingerprint:
        return Fingerprint.of(self.n_vertices, self.triangles)

    def content_digest(self) -> str:
        """16 hex digits of everything a render of the model depends on beyond its topology: the mean shape,
        the bases, the colours, the masks and the landmarks that frame it (a checkpoint or shard of another
        shape, unit, loader option or texture of the same mesh must not be reused)."""
        digest = hashlib.blake2b(digest_size=8)
        for array in (self.vertices, self.identity_basis, self.expression_basis, self.albedo, self.albedo_basis,
                      self.landmarks68, self.render_mask, self.eyeball_mask):
            if array is None:
                digest.update(b"none;")
                continue
            array = np.ascontiguousarray(array)
            digest.update(f"{array.dtype.str}{array.shape};".encode())
            digest.update(array)  # its buffer: no copy
        digest.update(self.expression_kind.encode())
        return digest.hexdigest()

    @property
    def render_triangles(self) -> np.ndarray:
        """(F_r,) int64 ids of the triangles drawn in renders."""
        return np.flatnonzero(self.render_mask[self.triangles].all(axis=1))

    def shape(self, identity: np.ndarray | None = None, expression: np.ndarray | None = None) -> np.ndarray:
        """Vertices (V, 3) for identity (K_id,) and expression (K_exp,) coefficients."""
        out = self.vertices.copy()
        for coeffs, basis in ((identity, self.identity_basis), (expression, self.expression_basis)):
            if coeffs is not None and len(coeffs):
                out += np.tensordot(np.asarray(coeffs, np.float32), basis[: len(coeffs)], axes=1)
        return out

    def colors(self, albedo: np.ndarray | None = None) -> np.ndarray:
        """Per-vertex albedo (V, 3) in [0, 1] for texture coefficients (K_tex,)."""
        base = self.albedo if self.albedo is not None else np.broadcast_to(NEUTRAL_SKIN, self.vertices.shape)
        out = np.array(base, dtype=np.float32)
        if albedo is not None and self.albedo_basis is not None and len(albedo):
            out += np.tensordot(np.asarray(albedo, np.float32), self.albedo_basis[: len(albedo)], axes=1)
        return np.clip(out, 0.0, 1.0)

    def in_file_frame(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) points in facepart's frame (metres, +y up, +z front) -> the model file's own unit and axes, as
        the loader recorded them in ``meta["file_frame"]`` (a mesh file: its unit and ``up``/``front``); the
        points unchanged (float64) for a model without that record."""
        frame = self.meta.get("file_frame") if isinstance(self.meta, dict) else None
        points = np.asarray(points, np.float64)
        if not isinstance(frame, dict):
            return points
        return (points / float(frame["scale"])) @ np.asarray(frame["rotation"], np.float64)

    def describe(self) -> list[str]:
        """Human-readable lines for ``facepart info``."""
        m = self.meta
        lines = [
            f"model: {self.name} ({m.get('format', 'unknown format')})",
            f"topology: {self.fingerprint.describe()}",
            f"bases: identity {len(self.identity_basis)}, expression {len(self.expression_basis)} "
            f"({self.expression_kind}), albedo {0 if self.albedo_basis is None else len(self.albedo_basis)}",
            f"colour: {'per-vertex albedo' if self.albedo is not None else 'none (neutral skin)'}"
            + (", UVs" if self.uv is not None else ""),
            f"units: metres (source: {m.get('units', 'unknown')}); frame: +x subject's left, +y up, +z toward viewer",
            f"rendered vertices: {int(self.render_mask.sum())}, vote-eligible vertices: {int(self.vote_mask.sum())}"
            + (f" (+ {int(self.eyeball_mask.sum())} eyeball vertices that take eye votes unless --no-eyeballs)"
               if self.eyeball_mask.any() else ""),
        ]
        if m.get("topology"):
            lines.insert(2, f"known topology: {m['topology']}")
        if m.get("version"):
            lines[0] = lines[0][:-1] + f", version {m['version']})"
        if self.landmarks68 is not None:
            lines.append("landmarks: 68 (iBUG order)")
        for region_set in self.region_sets.values():
            lines += region_set.describe(self.n_vertices)
        lines += [f"note: {n}" for n in m.get("notes", [])]
        return lines
