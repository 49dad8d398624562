"""The quality section of a run: is this labelling usable without opening the viewer?

Four checks, all on the final labels (no rendering; ~0.1 s on ICT):

- **pieces**: connected pieces of each part on each mesh component it touches. A face part
  should be one piece per component (the left eye may also cover the left eyeball, a separate
  component); more pieces are flagged.
- **mirror agreement** (symmetric models only): the share of labelled vertices with a mirror
  partner whose partner carries the mirrored label (left_eye <-> right_eye, nose <-> nose).
- **low confidence**: vertices per part whose label got under 60% of their votes.
- **unlabelled inside the face region**: vertices that were seen but got no part although parts
  surround them. The rest of the mesh (every vertex that is not a labelled vote-eligible one) falls
  into connected pieces; the piece that reaches an open edge of the mesh (the neck cut), or on a
  closed mesh component the largest piece, is the outside: scalp, neck, ears. Every other piece is
  a hole in the labelling (a gap in a lip, the mouth opening, a nostril), and the *face region* is
  the labelled vote-eligible vertices plus the vote-eligible vertices of those holes. Vertices that
  may not receive votes (eyeballs, teeth, mouth socket) belong to pieces but are never counted.

``QualityReport.summary_lines()`` is what the run summary and ``facepart info`` print;
``as_dict()``/``from_dict()`` store it in (and read it back from) the annotation's settings JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from ..errors import FacepartError

#: Confidence under which a vertex counts as uncertain.
LOW_CONFIDENCE = 0.6


#: Mesh components named one by one in a part's pieces (an unwelded mesh has one per triangle).
MAX_COMPONENTS_NAMED = 4


@dataclass
class QualityReport:
    """Quality figures of one labelling.

    Attributes:
        part_names: the parts, in id order.
        vertices: part -> number of vertices.
        pieces: part -> {mesh component id: connected pieces of the part on it} (components it touches).
        component_sizes: mesh component id -> vertex count (component 0 is the largest).
        low_confidence: part -> vertices with confidence under ``threshold`` (None: no confidence given).
        threshold: the confidence threshold.
        mirror_agreement: share of labelled, mirror-paired vertices whose partner has the mirrored
            label; None when the model is not symmetric (no partners).
        mirror_checked: vertices that share is over.
        face_region: vertices in the face region (see the module docstring).
        unlabelled_in_face: seen vertices in the face region without a part.
        unseen_in_face: never-seen vertices in the face region without a part.
    """

    part_names: tuple[str, ...]
    vertices: dict[str, int]
    pieces: dict[str, dict[int, int]]
    component_sizes: dict[int, int] = field(default_factory=dict)
    low_confidence: dict[str, int] | None = None
    threshold: float = LOW_CONFIDENCE
    mirror_agreement: float | None = None
    mirror_checked: int = 0
    face_region: int = 0
    unlabelled_in_face: int = 0
    unseen_in_face: int = 0

    @property
    def fragmented(self) -> dict[str, dict[int, int]]:
        """Parts with more than one piece on some mesh component: part -> {component: pieces}."""
        return {p: {c: k for c, k in per.items() if k > 1} for p, per in self.pieces.items()
                if any(k > 1 for k in per.values())}

    def _component_name(self, comp: int) -> str:
        if comp == 0:
            return "main mesh"
        return f"component {comp} ({self.component_sizes.get(comp, '?')} vertices)"

    def summary_lines(self) -> list[str]:
        """Lines for the run summary and ``facepart info`` (a heading, then lines indented two spaces)."""
        width = max([len(n) for n in self.part_names] + [4])
        conf = f"conf<{self.threshold:g}"
        lines = ["quality:", f"  {'part':<{width}}  {'vertices':>8}  {conf:>8}  pieces (per mesh component)"]
        for name in self.part_names:
            pieces = self.pieces_text(name)
            if any(k > 1 for k in self.pieces.get(name, {}).values()):
                pieces += "  (more than one piece)"
            low = "-" if self.low_confidence is None else str(self.low_confidence.get(name, 0))
            lines.append(f"  {name:<{width}}  {self.vertices.get(name, 0):>8}  {low:>8}  {pieces}")
        return lines + ["  " + line for line in self.figure_lines()]

    def pieces_text(self, name: str) -> str:
        """"1", "1 + 1 on component 2"...: the part's connected pieces per mesh component ("-": none)."""
        per = self.pieces.get(name, {})
        if not per:
            return "-"
        items = sorted(per.items())
        text = " + ".join(f"{k}" + ("" if c == 0 else f" on {self._component_name(c)}")
                          for c, k in items[:MAX_COMPONENTS_NAMED])
        if len(items) > MAX_COMPONENTS_NAMED:  # e.g. an unwelded mesh: every triangle its own component
            rest = items[MAX_COMPONENTS_NAMED:]
            text += f" + {sum(k for _, k in rest)} on {len(rest)} more components"
        return text

    def figure_lines(self) -> list[str]:
        """The whole-annotation figures, one line each: low confidence, mirror agreement, unlabelled vertices."""
        lines = []
        if self.low_confidence is not None:
            lines.append(f"low confidence: {sum(self.low_confidence.values())} labelled vertices got under "
                         f"{100 * self.threshold:.0f}% of their votes")
        if self.mirror_agreement is None:
            lines.append("mirror agreement: n/a (the model is not mirror-symmetric)")
        else:
            lines.append(f"mirror agreement: {100 * self.mirror_agreement:.1f}% of {self.mirror_checked} "
                         "labelled vertices with a mirror partner")
        lines.append(f"unlabelled inside the face region: {self.unlabelled_in_face} seen"
                     f" + {self.unseen_in_face} never seen, of {self.face_region} face-region vertices")
        return lines

    def as_dict(self) -> dict:
        """JSON-safe dict (component ids as strings)."""
        return {
            "part_names": list(self.part_names),
            "vertices": dict(self.vertices),
            "pieces": {p: {str(c): k for c, k in per.items()} for p, per in self.pieces.items()},
            "component_sizes": {str(c): k for c, k in self.component_sizes.items()},
            "low_confidence": None if self.low_confidence is None else dict(self.low_confidence),
            "threshold": self.threshold,
            "mirror_agreement": self.mirror_agreement,
            "mirror_checked": self.mirror_checked,
            "face_region": self.face_region,
            "unlabelled_in_face": self.unlabelled_in_face,
            "unseen_in_face": self.unseen_in_face,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "QualityReport":
        """Read back ``as_dict()`` output (e.g. from an annotation's settings)."""
        try:
            return cls(
                part_names=tuple(d["part_names"]),
                vertices={str(k): int(v) for k, v in d["vertices"].items()},
                pieces={str(p): {int(c): int(k) for c, k in per.items()} for p, per in d["pieces"].items()},
                component_sizes={int(c): int(k) for c, k in d.get("component_sizes", {}).items()},
                low_confidence=None if d.get("low_confidence") is None
                else {str(k): int(v) for k, v in d["low_confidence"].items()},
                threshold=float(d.get("threshold", LOW_CONFIDENCE)),
                mirror_agreement=None if d.get("mirror_agreement") is None else float(d["mirror_agreement"]),
                mirror_checked=int(d.get("mirror_checked", 0)),
                face_region=int(d.get("face_region", 0)),
                unlabelled_in_face=int(d.get("unlabelled_in_face", 0)),
                unseen_in_face=int(d.get("unseen_in_face", 0)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FacepartError(f"not a stored quality report ({exc!r})") from None


def _edges(n: int, tri: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(E, 2) unique edges and (B, 2) open (one-triangle) edges, smaller index first.

    Same edges as ``geometry.unique_edges``, by 1-D integer keys (several times faster than a row-wise unique).
    """
    half = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    lo, hi = half.min(axis=1), half.max(axis=1)
    keys, count = np.unique(lo * np.int64(n) + hi, return_counts=True)
    edges = np.stack([keys // n, keys % n], axis=1)
    return edges, edges[count == 1]


def _components(n: int, edges: np.ndarray) -> np.ndarray:
    graph = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    return csgraph.connected_components(graph, directed=False)[1]


def mirror_agreement(labels: np.ndarray, partner: np.ndarray, part_mirror: np.ndarray) -> tuple[float | None, int]:
    """Share of labelled vertices with a partner whose partner has the mirrored label, and their number.

    Args:
        labels: (V,) int, -1 = none.
        partner: (V,) int mirror partner, -1 = none.
        part_mirror: (P,) int left/right counterpart of each part.

    Returns:
        (share or None when no labelled vertex has a partner, count).
    """
    labels = np.asarray(labels, np.int64)
    partner = np.asarray(partner, np.int64)
    checked = (labels >= 0) & (partner >= 0)
    n = int(np.count_nonzero(checked))
    if n == 0:
        return None, 0
    mirrored = np.asarray(part_mirror, np.int64)[labels[checked]]
    return float(np.mean(labels[partner[checked]] == mirrored)), n


def quality_report(labels: np.ndarray, triangles: np.ndarray, parts, confidence: np.ndarray | None = None,
                   seen: np.ndarray | None = None, vote_mask: np.ndarray | None = None,
                   partner: np.ndarray | None = None, part_mirror: np.ndarray | None = None,
                   threshold: float = LOW_CONFIDENCE) -> QualityReport:
    """Measure a labelling (see the module docstring).

    Args:
        labels: (V,) int part id per vertex, -1 = none.
        triangles: (F, 3) the mesh.
        parts: a ``PartTable`` or the part names in id order.
        confidence: (V,) float share of votes each label got, or None (no low-confidence counts).
        seen: (V,) bool, vertices that got any vote (default: all).
        vote_mask: (V,) bool, vertices that may receive votes (default: all on a triangle).
        partner: (V,) int mutual mirror partner (``PooledVotes.partner``), -1 = none; None or all -1:
            no mirror agreement.
        part_mirror: (P,) int; default ``parts.mirror()`` for a PartTable, else identity.
        threshold: confidence threshold.
    """
    names = tuple(parts.names) if hasattr(parts, "names") else tuple(str(p) for p in parts)
    labels = np.asarray(labels, np.int64)
    n = len(labels)
    tri = np.asarray(triangles, np.int64)
    if tri.size and tri.max() >= n:
        raise FacepartError(f"triangles index vertex {int(tri.max())} but there are {n} labels")
    if labels.size and (labels.min() < -1 or labels.max() >= len(names)):
        raise FacepartError(f"labels outside -1..{len(names) - 1}")
    edges, border = _edges(n, tri)
    on_triangle = np.zeros(n, bool)
    on_triangle[tri.ravel()] = True
    eligible = on_triangle if vote_mask is None else (np.asarray(vote_mask, bool) & on_triangle)
    seen = np.ones(n, bool) if seen is None else np.asarray(seen, bool)

    # Pieces: one connected-components pass over the edges joining equal labels.
    mesh_comp = _components(n, edges)
    comp_ids, comp_sizes = np.unique(mesh_comp[on_triangle], return_counts=True)
    # renumber: 0 = largest component; vertices on no triangle (unused by the mesh) get -1 and no pieces
    rank = np.full(int(mesh_comp.max()) + 1 if n else 0, -1, np.int64)
    rank[comp_ids[np.argsort(-comp_sizes, kind="stable")]] = np.arange(len(comp_ids))
    mesh_comp = rank[mesh_comp]
    same = (labels[edges[:, 0]] == labels[edges[:, 1]]) & (labels[edges[:, 0]] >= 0)
    piece = _components(n, edges[same])
    vertices, pieces, used = {}, {}, set()
    labelled = np.flatnonzero(labels >= 0)
    for p, name in enumerate(names):
        members = labelled[labels[labelled] == p]
        vertices[name] = int(len(members))
        members = members[on_triangle[members]]
        per: dict[int, int] = {}
        if len(members):
            first = _first_of(piece, members, np.unique(piece[members]))
            comps, counts = np.unique(mesh_comp[first], return_counts=True)
            per = {int(c): int(k) for c, k in zip(comps, counts)}
            used.update(per)
        pieces[name] = per
    sizes = np.bincount(mesh_comp[on_triangle])
    component_sizes = {int(c): int(sizes[c]) for c in sorted(used)}

    low = None
    if confidence is not None:
        confidence = np.asarray(confidence, np.float64)
        if confidence.shape != (n,):
            raise FacepartError(f"confidence for {len(confidence)} vertices, labels for {n}")
        uncertain = (labels >= 0) & (confidence < threshold)
        counts = np.bincount(labels[uncertain], minlength=len(names))
        low = {name: int(counts[p]) for p, name in enumerate(names)}

    agreement, checked = None, 0
    if partner is not None:
        partner = np.asarray(partner, np.int64)
        if partner.shape != (n,):
            raise FacepartError(f"mirror partners for {len(partner)} vertices, labels for {n}")
        if part_mirror is None:
            part_mirror = parts.mirror() if hasattr(parts, "mirror") else np.arange(len(names))
        agreement, checked = mirror_agreement(labels, partner, part_mirror)

    face, unlabelled_in, unseen_in = _face_region(n, tri, edges, border, labels, eligible, seen, mesh_comp)
    return QualityReport(names, vertices, pieces, component_sizes, low, float(threshold), agreement, checked,
                         face, unlabelled_in, unseen_in)


def _first_of(piece: np.ndarray, members: np.ndarray, uniq: np.ndarray) -> np.ndarray:
    """For each piece id in ``uniq``, one vertex of ``members`` in it."""
    order = np.argsort(piece[members], kind="stable")
    pos = np.searchsorted(piece[members][order], uniq)
    return members[order[pos]]


def _face_region(n: int, tri: np.ndarray, edges: np.ndarray, border_edges: np.ndarray, labels: np.ndarray,
                 eligible: np.ndarray, seen: np.ndarray, mesh_comp: np.ndarray) -> tuple[int, int, int]:
    """(face-region size, seen unlabelled in it, unseen unlabelled in it).

    The rest of the mesh (all vertices but the labelled eligible ones) falls into connected pieces.
    A piece that reaches an open edge of the mesh is outside the face; on a closed mesh component
    (no open edge at all), its largest piece is. Every other piece is a hole in the labelling, and its
    eligible vertices are in the face region.
    """
    on_triangle = np.zeros(n, bool)
    on_triangle[tri.ravel()] = True
    rest = on_triangle & ~(eligible & (labels >= 0))
    on_border = np.zeros(n, bool)
    on_border[border_edges.ravel()] = True
    piece = np.where(rest, _components(n, edges[rest[edges[:, 0]] & rest[edges[:, 1]]]), -1)
    if not rest.any():
        return int(np.count_nonzero(eligible)), 0, 0
    n_pieces = int(piece.max()) + 1
    size = np.bincount(piece[rest], minlength=n_pieces)
    outside = np.bincount(piece[rest], on_border[rest].astype(np.float64), minlength=n_pieces) > 0
    comp_of = np.zeros(n_pieces, np.int64)
    comp_of[piece[rest]] = mesh_comp[rest]
    open_comp = np.zeros(int(mesh_comp.max()) + 1, bool)
    open_comp[mesh_comp[on_border]] = True
    for comp in np.unique(comp_of[size > 0]):
        group = np.flatnonzero((comp_of == comp) & (size > 0))
        if not open_comp[comp]:  # a closed component: its largest unlabelled piece is the outside
            outside[group[np.lexsort((group, -size[group]))[0]]] = True
    hole = rest & eligible & ~outside[np.maximum(piece, 0)]
    face = int(np.count_nonzero(eligible & (labels >= 0)) + np.count_nonzero(hole))
    return face, int(np.count_nonzero(hole & seen)), int(np.count_nonzero(hole & ~seen))
