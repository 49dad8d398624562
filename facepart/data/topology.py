"""Topology fingerprints: an annotation belongs to one mesh connectivity.

Applying labels to a mesh with another vertex count or another triangle list
is an error with a clear message, never a silent mislabel. Well-known Basel
topologies are named by their vertex count (:func:`topology_name`; the index
maps between them live in :mod:`facepart.data.bfm_topology`).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import FacepartError


@dataclass(frozen=True)
class Fingerprint:
    n_vertices: int
    n_triangles: int
    triangle_hash: str  # sha256 of the (F, 3) int64 C-order triangle array, first 16 hex digits

    @classmethod
    def of(cls, n_vertices: int, triangles: np.ndarray) -> "Fingerprint":
        tri = np.ascontiguousarray(triangles, dtype=np.int64)
        digest = hashlib.sha256(tri.tobytes()).hexdigest()[:16]
        return cls(int(n_vertices), int(tri.shape[0]), digest)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d, where: str) -> "Fingerprint":
        """The fingerprint :meth:`as_dict` wrote (any mapping with those keys); one line naming ``where`` if not."""
        try:
            return cls(int(d["n_vertices"]), int(d["n_triangles"]), str(d["triangle_hash"]))
        except (KeyError, TypeError, ValueError, IndexError):
            raise FacepartError(f"{where}: the topology entry needs n_vertices, n_triangles, triangle_hash") from None

    def describe(self) -> str:
        return f"{self.n_vertices} vertices, {self.n_triangles} triangles, hash {self.triangle_hash}"

    def check_matches(self, other: "Fingerprint", what: str, against: str) -> None:
        """Raise a one-line FacepartError unless ``other`` is the same topology."""
        if self == other:
            return
        if self.n_vertices != other.n_vertices:
            detail = f"{self.n_vertices} vertices vs {other.n_vertices}"
        elif self.n_triangles != other.n_triangles:
            detail = f"{self.n_triangles} triangles vs {other.n_triangles}"
        else:
            detail = "same counts but a different triangle list (re-ordered or re-meshed)"
        raise FacepartError(f"{what} was made for another topology than {against}: {detail}")


#: vertex count -> description
BFM_TOPOLOGIES = {
    53490: "BFM 2009 full, 53,490 vertices (01_MorphableModel.mat)",
    53215: "BFM 2009 without the inner mouth, 53,215 vertices (3DDFA, Exp_Pca.bin, face3d BFM.mat)",
    38365: "BFM 3DDFA_V2 no-neck, 38,365 vertices (bfm_noneck_v3.pkl)",
    35709: "BFM front, 35,709 vertices (Deep3D BFM_model_front.mat, 3DDFA-V3, HRN, MGCNet)",
}
#: other Basel topologies, named but without index maps
OTHER_TOPOLOGIES = {
    53149: "BFM 2017 'bfm_nomouth', 53,149 vertices",
}


def topology_name(n_vertices: int) -> str | None:
    """The Basel topology with this vertex count, or None."""
    return BFM_TOPOLOGIES.get(int(n_vertices)) or OTHER_TOPOLOGIES.get(int(n_vertices))
