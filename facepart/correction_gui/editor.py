"""The correction viewer's editing logic, without a window: pick, brush, lasso, fill, grow/shrink,
mirror, locks, undo/redo, colours and save.

:class:`Editor` holds one annotation being corrected. Every operation is a
vectorised numpy/scipy function of the mesh and the current labels, so a brush
dab on the 26,719-vertex ICT model costs a few milliseconds. Screen-space
operations take a :class:`~facepart.correction_gui.screen.ScreenView` (the
view's camera and depth image), which the Open3D window supplies and tests
build from facepart's renderer.

Conventions:

* The brush radius is in millimetres and measured **along the surface**:
  geodesic distance approximated by shortest paths over mesh edges (Dijkstra
  on edge lengths, ``scipy.sparse.csgraph.dijkstra`` with a limit), from the
  picked vertex, within the connected surface. So a brush on the upper lip
  does not jump the mouth gap to the lower lip. Edge paths overestimate the
  true geodesic distance by a few percent.
* "Visible only" (the default) limits the brush and the lasso to vertices the
  depth image shows; "through" reaches hidden vertices as well.
* Locked parts are never overwritten: their vertices keep their label, and
  painting with a locked part is refused.
* Each stroke, fill, assignment or erase is one undo step; at least 200 steps
  are kept (``history_limit``, default 1000).
* Every vertex an edit sets is marked ``edited`` (set by hand), also where
  its label was already right (a confirmation); locked vertices are not set.
  The edit log lists the edits in effect (undone ones drop out), oldest
  first: operation, time, part, ``count`` (labels changed) and ``confirmed``
  (vertices newly marked without a change).
"""

from __future__ import annotations

from dataclasses import replace
from itertools import count
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from ..data.annotation import Annotation, save_annotation
from ..data.edits import now_iso
from ..data.parts import UNLABELLED_COLOR
from ..errors import FacepartError
from ..geometry import edge_lengths, grow, mirror_map, unique_edges, vertex_normals
from .screen import ScreenView, points_in_polygon

#: Colour of vertices of a hidden part (plain clay, lighter than the grey of unlabelled vertices).
HIDDEN_COLOR = np.array([0.86, 0.85, 0.82], np.float32)
#: Colour of unlabelled vertices when "show unlabelled" is on.
UNLABELLED_HIGHLIGHT = np.array([1.0, 0.0, 1.0], np.float32)
#: Selection tint.
SELECTION_COLOR = np.array([1.0, 0.95, 0.0], np.float32)
#: Brush radius limits, millimetres.
MIN_RADIUS_MM, MAX_RADIUS_MM = 0.5, 60.0
ERASE = -1  # the "part" that unlabels


class EditRefused(FacepartError):
    """An edit the editor will not make (a locked part, mirror mode on an asymmetric model)."""


class Edit(NamedTuple):
    """One undo step: the vertices it changed and their labels before and after."""

    operation: str
    indices: np.ndarray  # (N,) int64
    before: np.ndarray  # (N,) int64
    after: np.ndarray  # (N,) int64
    edited_before: np.ndarray  # (N,) bool
    log: dict  # time, operation, count, part, mirror
    serial: int


class Region(NamedTuple):
    """A connected piece of the surface to look at (an island of a part, or an uncertain region)."""

    vertices: np.ndarray  # (N,) int64
    center: np.ndarray  # (3,) mean position
    normal: np.ndarray  # (3,) mean outward normal (unit)
    part: int = -1  # the part it belongs to (-1: none / mixed)
    piece: int = 0  # 0 = the part's largest piece
    n_pieces: int = 1


class Editor:
    """Corrects one annotation of one mesh.

    Args:
        vertices: (V, 3) positions in metres (the model's mean shape).
        triangles: (F, 3) the model's triangles; they must match ``annotation``'s fingerprint.
        annotation: the labels, votes and part table to start from (not modified).
        shown: (V,) bool, the vertices that are drawn (e.g. ``FaceModel.render_mask``); only
            triangles with three shown corners form the editable surface. Default: all.
        history_limit: undo steps kept (at least 200).
    """

    def __init__(self, vertices: np.ndarray, triangles: np.ndarray, annotation: Annotation,
                 shown: np.ndarray | None = None, history_limit: int = 1000):
        from ..data.topology import Fingerprint

        self.vertices = np.ascontiguousarray(vertices, np.float64)
        n = len(self.vertices)
        annotation.check_topology(Fingerprint.of(n, triangles), "this model")
        self.source = annotation
        self.parts = annotation.parts
        self.n_parts = len(self.parts)
        self.labels = annotation.labels.astype(np.int64).copy()
        self.edited = (np.zeros(n, bool) if annotation.edited is None else annotation.edited.astype(bool).copy())
        shown = np.ones(n, bool) if shown is None else np.asarray(shown, bool)
        tri = np.asarray(triangles, np.int64)
        self.surface_triangles = tri[shown[tri].all(axis=1)]
        self.shown = np.zeros(n, bool)
        self.shown[self.surface_triangles.ravel()] = True
        self.edges = unique_edges(self.surface_triangles)
        lengths = np.maximum(edge_lengths(self.vertices, self.edges), 1e-12)
        self.graph = _symmetric(n, self.edges, lengths)  # edge lengths, metres (for the brush)
        self.rings = _symmetric(n, self.edges, np.ones(len(self.edges)))  # 1 per edge (grow / shrink)
        self.normals = vertex_normals(self.vertices, self.surface_triangles).astype(np.float64)

        votes_total = annotation.votes.sum(axis=1) + annotation.none_votes
        self.has_votes = votes_total > 0
        self.confidence = annotation.confidence.astype(np.float32)

        self.locked = np.zeros(self.n_parts, bool)
        self.hidden = np.zeros(self.n_parts, bool)
        self.selection = np.zeros(n, bool)
        self.active = 0 if self.n_parts else ERASE
        self.brush_radius_mm = 4.0
        self.through = False
        self.show_unlabelled = False
        self.heat_map = False
        self.uncertain_threshold = 0.6
        self.message = ""  # the last thing worth telling the user (for a status line)

        self._mirror_on = False
        self._mirror = None  # MirrorMap, computed when mirror mode is first switched on
        self._mirror_parts = np.append(self.parts.mirror(), ERASE)  # part id -> partner part id; -1 -> -1
        self.history_limit = max(200, int(history_limit))
        self._undo: list[Edit] = []
        self._redo: list[Edit] = []
        self._base_log = list(annotation.edit_log)
        self._serial = count(1)
        self._base_token = 0  # the state with nothing to undo: the opened one, until history is trimmed
        self._saved_token = 0
        self._saved = (self.labels.copy(), self.edited.copy())  # what the file holds (opened or saved last)
        self._tx = None  # the open transaction: (operation, part, labels before, edited before)
        self._stroke_last = None  # last stroke point (x, y) and its picked vertex
        self.stroke_centers: list[int] = []
        self._uncertain_cursor = 0
        self._island_cursor = 0

    @classmethod
    def from_model(cls, model, annotation: Annotation, **kwargs) -> "Editor":
        """An editor over a :class:`~facepart.data.FaceModel`'s mean shape and drawn surface."""
        return cls(model.vertices, model.triangles, annotation, shown=model.render_mask, **kwargs)

    # -- parts, locks, visibility ---------------------------------------------------------------
    @property
    def n_vertices(self) -> int:
        return len(self.vertices)

    def part_id(self, part: int | str | None) -> int:
        """A part given by id, name, or None (= the active part); -1 erases."""
        if part is None:
            return self.active
        if isinstance(part, str):
            return self.parts.index(part)
        part = int(part)
        if not -1 <= part < self.n_parts:
            raise FacepartError(f"part id {part} outside -1..{self.n_parts - 1}")
        return part

    def part_name(self, part: int) -> str:
        return "(erase)" if part < 0 else self.parts.names[part]

    def set_active(self, part: int | str) -> int:
        self.active = self.part_id(part)
        self.message = f"active part: {self.part_name(self.active)}"
        return self.active

    def toggle_lock(self, part: int | str | None = None) -> bool:
        p = self.part_id(part)
        if p < 0:
            raise EditRefused("choose a part to lock (the eraser is not a part)")
        self.locked[p] = not self.locked[p]
        self.message = f"{self.part_name(p)} {'locked' if self.locked[p] else 'unlocked'}"
        return bool(self.locked[p])

    def toggle_hidden(self, part: int | str | None = None) -> bool:
        p = self.part_id(part)
        if p < 0:
            raise EditRefused("choose a part to hide")
        self.hidden[p] = not self.hidden[p]
        self.message = f"{self.part_name(p)} {'hidden' if self.hidden[p] else 'shown'}"
        return bool(self.hidden[p])

    def show_only(self, part: int | str | None = None) -> None:
        """Hide every part but ``part``; if that is already so, show all parts again."""
        p = self.part_id(part)
        only = np.ones(self.n_parts, bool)
        if p >= 0:
            only[p] = False
        if p < 0 or (self.hidden == only).all():
            self.hidden[:] = False
            self.message = "all parts shown"
        else:
            self.hidden[:] = only
            self.message = f"showing {self.part_name(p)} only"

    def set_brush_radius(self, radius_mm: float) -> float:
        self.brush_radius_mm = float(np.clip(radius_mm, MIN_RADIUS_MM, MAX_RADIUS_MM))
        self.message = f"brush radius {self.brush_radius_mm:.1f} mm"
        return self.brush_radius_mm

    def scale_brush(self, factor: float) -> float:
        return self.set_brush_radius(self.brush_radius_mm * factor)

    # -- mirror -------------------------------------------------------------------------------
    @property
    def mirror(self) -> bool:
        return self._mirror_on

    def set_mirror(self, on: bool) -> bool:
        """Switch mirror mode; refused (``EditRefused``) when the mesh is not mirror-symmetric."""
        if on and self._mirror is None:
            self._mirror = mirror_map(self.vertices, self.surface_triangles, mask=self.shown)
        if on and not self._mirror.symmetric():
            self._mirror_on = False
            raise EditRefused(f"mirror mode refused: this model is not symmetric ({self._mirror.describe()}; "
                              "at least 95% of vertices need a partner)")
        self._mirror_on = bool(on)
        self.message = "mirror mode " + ("on: edits are repeated on the other side" if on else "off")
        return self._mirror_on

    def toggle_mirror(self) -> bool:
        return self.set_mirror(not self._mirror_on)

    # -- edits: transactions ----------------------------------------------------------------------
    def _begin(self, operation: str, part: int) -> None:
        if self._tx is not None:
            self._commit()
        if part >= 0 and self.locked[part]:
            raise EditRefused(f"{self.part_name(part)} is locked (L unlocks the active part)")
        self._tx = (operation, part, self.labels.copy(), self.edited.copy())

    def _set(self, indices: np.ndarray, part: int) -> int:
        """Give ``indices`` the label ``part`` (and their mirror partners the partner part); return how many changed."""
        idx = np.unique(np.asarray(indices, np.int64))
        idx = idx[self.shown[idx]]
        changed = self._assign(idx, part)
        if self._mirror_on and len(idx):
            partner = self._mirror.partner[idx]
            partner = partner[partner >= 0]
            partner = np.setdiff1d(partner, idx, assume_unique=False)
            mirrored = int(self._mirror_parts[part])
            if mirrored >= 0 and self.locked[mirrored]:
                self.message = f"mirror side skipped: {self.part_name(mirrored)} is locked"
            else:
                changed += self._assign(partner, mirrored)
        return changed

    def _assign(self, idx: np.ndarray, part: int) -> int:
        cur = self.labels[idx]
        free = ~np.append(self.locked, False)[cur]  # label -1 indexes the appended False
        idx, cur = idx[free], cur[free]
        self.labels[idx] = part
        self.edited[idx] = True  # set by hand, even where the label was already right (confirmed)
        return int((cur != part).sum())

    def _commit(self) -> Edit | None:
        if self._tx is None:
            return None
        operation, part, before, edited_before = self._tx
        self._tx = None
        idx = np.flatnonzero((self.labels != before) | (self.edited != edited_before))
        if not len(idx):
            return None
        changed = int((self.labels[idx] != before[idx]).sum())
        log = {"time": now_iso(), "operation": operation, "count": changed,
               "part": None if part < 0 else self.parts.names[part], "mirror": self._mirror_on}
        if changed < len(idx):
            log["confirmed"] = int(len(idx) - changed)  # newly marked as set by hand, label unchanged
        edit = Edit(operation, idx, before[idx], self.labels[idx].copy(), edited_before[idx], log, next(self._serial))
        self._undo.append(edit)
        self._redo.clear()
        while len(self._undo) > self.history_limit:
            trimmed = self._undo.pop(0)
            self._base_log.append(trimmed.log)
            self._base_token = trimmed.serial  # undoing everything now ends after this edit, not at the file
        self.message = (f"{operation}: {changed} vertices -> {self.part_name(part)}"
                        + (f" ({log['confirmed']} confirmed)" if "confirmed" in log else ""))
        return edit

    def _one_step(self, operation: str, part: int | str | None, indices: np.ndarray) -> Edit | None:
        p = self.part_id(part)
        self._begin(operation, p)
        self._set(indices, p)
        edit = self._commit()
        if edit is None:
            self.message = f"{operation}: nothing changed" + self._locked_note(indices)
        return edit

    def _locked_note(self, indices: np.ndarray) -> str:
        """Why an edit of ``indices`` left vertices alone: how many are locked, in which parts."""
        idx = np.unique(np.asarray(indices, np.int64))
        lab = self.labels[idx[self.shown[idx]]]
        n = len(lab)
        lab = lab[lab >= 0]
        lab = lab[self.locked[lab]]
        if not len(lab):
            return ""
        ids, counts = np.unique(lab, return_counts=True)
        parts = ", ".join(f"{self.part_name(int(p))} {int(c)}" for p, c in zip(ids, counts))
        which = f"all {n} vertices are" if len(lab) == n else f"{len(lab)} of the {n} vertices are"
        return f": {which} locked (locked parts: {parts}; L or the panel's lock box unlocks)"

    # -- undo / redo -----------------------------------------------------------------------------
    def undo(self) -> Edit | None:
        self._commit()
        if not self._undo:
            self.message = "nothing to undo"
            return None
        edit = self._undo.pop()
        self.labels[edit.indices] = edit.before
        self.edited[edit.indices] = edit.edited_before
        self._redo.append(edit)
        self.message = f"undid {edit.operation} ({len(edit.indices)} vertices)"
        return edit

    def redo(self) -> Edit | None:
        self._commit()
        if not self._redo:
            self.message = "nothing to redo"
            return None
        edit = self._redo.pop()
        self.labels[edit.indices] = edit.after
        self.edited[edit.indices] = True
        self._undo.append(edit)
        self.message = f"redid {edit.operation} ({len(edit.indices)} vertices)"
        return edit

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    # -- picking and the brush -------------------------------------------------------------------
    def visible(self, view: ScreenView) -> np.ndarray:
        """(V,) bool: shown vertices the view's depth image does not hide."""
        return view.visible(self.vertices, self.shown)

    def pick(self, view: ScreenView, x: float, y: float, max_pixels: float = 10.0) -> int | None:
        """The visible vertex nearest to view pixel ``(x, y)``, or None when the cursor is off the mesh.

        On the mesh: the visible vertex nearest (in 3D) to the surface point under the cursor.
        Off the mesh: the visible vertex nearest on screen, if within ``max_pixels``.
        """
        vis = np.flatnonzero(self.visible(view))
        if not len(vis):
            return None
        z = view.depth_at(x, y)
        if np.isfinite(z):
            point = view.unproject(x, y, z)
            d = np.einsum("ij,ij->i", self.vertices[vis] - point, self.vertices[vis] - point)
            return int(vis[np.argmin(d)])
        uv, _ = view.project(self.vertices)
        d = np.hypot(uv[vis, 0] - x, uv[vis, 1] - y)
        best = int(np.argmin(d))
        return int(vis[best]) if d[best] <= max_pixels else None

    def brush_region(self, centers: Sequence[int] | np.ndarray, view: ScreenView | None = None,
                     radius_mm: float | None = None) -> np.ndarray:
        """(V,) bool: vertices within the brush radius (along the surface) of any of ``centers``.

        With a ``view`` and "visible only" (``through`` off), hidden vertices are left out.
        """
        centers = np.unique(np.asarray(centers, np.int64))
        out = np.zeros(self.n_vertices, bool)
        if not len(centers):
            return out
        radius = 1e-3 * (self.brush_radius_mm if radius_mm is None else radius_mm)
        dist = csgraph.dijkstra(self.graph, directed=False, indices=centers, limit=radius, min_only=True)
        out = np.isfinite(dist)
        out[centers] = True
        if view is not None and not self.through:
            out &= self.visible(view)
        return out

    def _radius_pixels(self, view: ScreenView, vertex: int) -> float:
        _, z = view.project(self.vertices)
        return 1e-3 * self.brush_radius_mm * view.camera.fx / max(float(z[vertex]), 1e-6)

    def begin_stroke(self, part: int | str | None = None, operation: str | None = None) -> None:
        """Start a brush stroke with ``part`` (default: the active part; -1 erases). One undo step."""
        p = self.part_id(part)
        self._begin(operation or ("erase" if p < 0 else "brush"), p)
        self._stroke_last = None
        self.stroke_centers = []  # the picked vertices the dabs were centred on

    def stroke_to(self, view: ScreenView, x: float, y: float) -> int:
        """Paint at view position ``(x, y)`` (pixel ``(c, r)`` has its centre at ``(c + 0.5, r + 0.5)``),
        with dabs every half brush radius along the way from the last point; returns how many
        vertices changed. Starts a stroke with the active part if none is open."""
        if self._tx is None:
            self.begin_stroke()
        part = self._tx[1]
        points = [(x, y)]
        if self._stroke_last is not None:
            (x0, y0), c0 = self._stroke_last
            step = max(1.0, 0.5 * self._radius_pixels(view, c0)) if c0 is not None else 2.0
            n = int(np.hypot(x - x0, y - y0) // step)
            points = [(x0 + (x - x0) * t, y0 + (y - y0) * t) for t in np.arange(1, n + 1) / (n + 1)] + points
        centers = [c for c in (self.pick(view, px, py) for px, py in points) if c is not None]
        self._stroke_last = ((x, y), centers[-1] if centers else None)
        self.stroke_centers.extend(centers)
        if not centers:
            return 0
        return self._set(np.flatnonzero(self.brush_region(centers, view)), part)

    def end_stroke(self) -> Edit | None:
        self._stroke_last = None
        return self._commit()

    def paint(self, view: ScreenView, points: Sequence[tuple[float, float]], part: int | str | None = None) -> Edit | None:
        """A whole brush stroke through view pixels ``points``: one undo step."""
        self.begin_stroke(part)
        for x, y in points:
            self.stroke_to(view, x, y)
        return self.end_stroke()

    # -- selection -------------------------------------------------------------------------------
    def _selectable(self, view: ScreenView) -> np.ndarray:
        return self.visible(view) if not self.through else (view.in_frame(self.vertices) & self.shown)

    def select_polygon(self, view: ScreenView, polygon: np.ndarray, mode: str = "replace") -> int:
        """Select the visible (or, with ``through``, all shown) vertices inside a screen lasso ``polygon`` (K, 2).

        ``mode``: "replace", "add" or "remove". Returns the size of the selection.
        """
        cand = np.flatnonzero(self._selectable(view))
        uv, _ = view.project(self.vertices)
        inside = np.zeros(self.n_vertices, bool)
        inside[cand] = points_in_polygon(uv[cand], polygon, view.camera.width, view.camera.height)
        return self._combine(inside, mode)

    def select_rectangle(self, view: ScreenView, x0: float, y0: float, x1: float, y1: float,
                         mode: str = "replace") -> int:
        """Select the visible (or all shown) vertices inside the screen rectangle with corners (x0, y0), (x1, y1)."""
        cand = np.flatnonzero(self._selectable(view))
        uv, _ = view.project(self.vertices)
        lo_x, hi_x, lo_y, hi_y = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
        u, v = uv[cand, 0], uv[cand, 1]
        inside = np.zeros(self.n_vertices, bool)
        inside[cand] = (u >= lo_x) & (u <= hi_x) & (v >= lo_y) & (v <= hi_y)
        return self._combine(inside, mode)

    def select_part(self, part: int | str | None = None, mode: str = "replace") -> int:
        """Select every shown vertex of ``part`` (-1: the unlabelled ones)."""
        return self._combine(self.shown & (self.labels == self.part_id(part)), mode)

    def select_vertices(self, vertices: np.ndarray, mode: str = "replace") -> int:
        """Select ``vertices``: (N,) ids or a (V,) bool mask (only shown vertices are selectable)."""
        vertices = np.asarray(vertices)
        if vertices.dtype == bool:
            mask = vertices.copy()
        else:
            mask = np.zeros(self.n_vertices, bool)
            mask[vertices.astype(np.int64)] = True
        return self._combine(mask & self.shown, mode)

    def _combine(self, mask: np.ndarray, mode: str) -> int:
        if mode == "replace":
            self.selection = mask
        elif mode == "add":
            self.selection = self.selection | mask
        elif mode == "remove":
            self.selection = self.selection & ~mask
        else:
            raise FacepartError(f"selection mode must be replace, add or remove, not {mode!r}")
        n = int(self.selection.sum())
        self.message = f"{n} vertices selected"
        return n

    def clear_selection(self) -> None:
        self.selection = np.zeros(self.n_vertices, bool)
        self.message = "selection cleared"

    def grow_selection(self, rings: int = 1) -> int:
        """Grow (``rings`` > 0) or shrink (< 0) the selection by whole rings of neighbours on the surface."""
        self.selection = grow(self.rings, self.selection, rings) & self.shown
        n = int(self.selection.sum())
        self.message = f"{'grew' if rings > 0 else 'shrank'} selection to {n} vertices"
        return n

    def assign_selection(self, part: int | str | None = None) -> Edit | None:
        """Give the selected vertices ``part`` (default: the active part). One undo step."""
        p = self.part_id(part)
        return self._one_step("erase" if p < 0 else "assign", p, np.flatnonzero(self.selection))

    def erase_selection(self) -> Edit | None:
        """Unlabel the selected vertices. One undo step."""
        return self._one_step("erase", ERASE, np.flatnonzero(self.selection))

    # -- fill -------------------------------------------------------------------------------------
    def connected_region(self, vertex: int) -> np.ndarray:
        """(N,) int64: the connected piece of surface around ``vertex`` that shares its label."""
        mask = self.shown & (self.labels == self.labels[vertex])
        e = self.edges[mask[self.edges[:, 0]] & mask[self.edges[:, 1]]]
        n = self.n_vertices
        g = sparse.coo_matrix((np.ones(len(e), np.int8), (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
        return np.sort(csgraph.breadth_first_order(g, int(vertex), directed=False, return_predecessors=False))

    def fill(self, vertex: int, part: int | str | None = None) -> Edit | None:
        """Flood the connected region of ``vertex``'s label with ``part`` (default: active). One undo step."""
        if not self.shown[vertex]:
            raise EditRefused(f"vertex {vertex} is not on the drawn surface")
        return self._one_step("fill", part, self.connected_region(vertex))

    def fill_at(self, view: ScreenView, x: float, y: float, part: int | str | None = None) -> Edit | None:
        vertex = self.pick(view, x, y)
        if vertex is None:
            self.message = "fill: click on the mesh"
            return None
        return self.fill(vertex, part)

    # -- looking around ---------------------------------------------------------------------------
    def _region(self, idx: np.ndarray, **kw) -> Region:
        center = self.vertices[idx].mean(axis=0)
        normal = self.normals[idx].sum(axis=0)
        norm = np.linalg.norm(normal)
        return Region(idx, center, normal / norm if norm > 0 else np.array([0.0, 0.0, 1.0]), **kw)

    def _pieces(self, mask: np.ndarray, same_label: bool) -> tuple[np.ndarray, int]:
        e = self.edges[mask[self.edges[:, 0]] & mask[self.edges[:, 1]]]
        if same_label:
            e = e[self.labels[e[:, 0]] == self.labels[e[:, 1]]]
        n = self.n_vertices
        g = sparse.coo_matrix((np.ones(len(e), np.int8), (e[:, 0], e[:, 1])), shape=(n, n))
        return csgraph.connected_components(g, directed=False)[::-1]

    def islands(self) -> list[Region]:
        """Every piece of every part that is in more than one connected piece, largest piece first per part."""
        mask = self.shown & (self.labels >= 0)
        comp, _ = self._pieces(mask, same_label=True)
        out = []
        for p in range(self.n_parts):
            idx = np.flatnonzero(mask & (self.labels == p))
            if not len(idx):
                continue
            ids, inverse, sizes = np.unique(comp[idx], return_inverse=True, return_counts=True)
            if len(ids) < 2:
                continue
            order = np.argsort(-sizes, kind="stable")
            for rank, k in enumerate(order):
                out.append(self._region(idx[inverse == k], part=p, piece=rank, n_pieces=len(ids)))
        return out

    def next_island(self) -> Region | None:
        """Cycle through the pieces that are not their part's largest."""
        stray = [r for r in self.islands() if r.piece > 0]
        if not stray:
            self.message = "no islands: every part is one connected piece"
            return None
        r = stray[self._island_cursor % len(stray)]
        self._island_cursor += 1
        self.message = f"island: {self.part_name(r.part)} piece {r.piece + 1} of {r.n_pieces} ({len(r.vertices)} vertices)"
        return r

    def uncertain(self) -> np.ndarray:
        """(V,) bool: shown vertices with votes whose label got less than ``uncertain_threshold`` of them,
        not yet edited by hand."""
        return self.shown & self.has_votes & (self.confidence < self.uncertain_threshold) & ~self.edited

    def uncertain_regions(self) -> list[Region]:
        """Connected pieces of :meth:`uncertain` vertices, largest first."""
        mask = self.uncertain()
        comp, n = self._pieces(mask, same_label=False)
        idx = np.flatnonzero(mask)
        if not len(idx):
            return []
        ids, inverse, sizes = np.unique(comp[idx], return_inverse=True, return_counts=True)
        return [self._region(idx[inverse == k]) for k in np.argsort(-sizes, kind="stable")]

    def next_uncertain(self) -> Region | None:
        """The next uncertain region (cycling, largest first), or None if there is none."""
        regions = self.uncertain_regions()
        if not regions:
            self.message = f"no uncertain vertices (confidence < {self.uncertain_threshold:.2f})"
            return None
        r = regions[self._uncertain_cursor % len(regions)]
        self.message = (f"uncertain region {self._uncertain_cursor % len(regions) + 1} of {len(regions)}: "
                        f"{len(r.vertices)} vertices")
        self._uncertain_cursor += 1
        return r

    # -- what to draw ------------------------------------------------------------------------------
    def counts(self) -> np.ndarray:
        """(P + 1,) vertices per part among the shown vertices; the last entry counts the unlabelled."""
        lab = self.labels[self.shown]
        return np.bincount(np.where(lab < 0, self.n_parts, lab), minlength=self.n_parts + 1)

    def colors(self) -> np.ndarray:
        """(V, 3) float32 vertex colours in [0, 1] for the current mode (parts, unlabelled, heat map, selection)."""
        lut = np.vstack([self.parts.colors, np.array([UNLABELLED_COLOR])]).astype(np.float32) / 255.0
        lab = np.where(self.labels < 0, self.n_parts, self.labels)
        if self.heat_map:
            c = heat_colors(self.confidence, self.uncertain_threshold)
            c[~self.has_votes] = 0.55
            c[self.edited] = (0.35, 0.75, 1.0)  # decided by hand
        else:
            c = lut[lab]
            if self.hidden.any():
                c[np.append(self.hidden, False)[lab]] = HIDDEN_COLOR
            if self.show_unlabelled:
                c[self.labels >= 0] = 0.35 * c[self.labels >= 0] + 0.65 * HIDDEN_COLOR
                c[self.labels < 0] = UNLABELLED_HIGHLIGHT
        if self.selection.any():
            c[self.selection] = 0.45 * c[self.selection] + 0.55 * SELECTION_COLOR
        return c

    # -- saving ------------------------------------------------------------------------------------
    def edit_log(self) -> list[dict]:
        """The edits in effect, oldest first: those already in the file, then this session's."""
        return self._base_log + [e.log for e in self._undo]

    @property
    def dirty(self) -> bool:
        """True when the labels (or the edited mask) differ from the last save, or the opened file."""
        if self._tx is not None:
            return True
        if self._state_token() == self._saved_token:
            return False
        labels, edited = self._saved
        return not (np.array_equal(self.labels, labels) and np.array_equal(self.edited, edited))

    def _state_token(self) -> int:
        return self._undo[-1].serial if self._undo else self._base_token

    def annotation(self) -> Annotation:
        """The corrected annotation: the source's votes and settings, the current labels, edits and log."""
        self._commit()
        return replace(self.source, labels=self.labels.copy(), edited=self.edited.copy(), edit_log=self.edit_log())

    def save(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write ``annotation.npz`` and ``parts.json`` into ``out_dir`` (created if needed; atomic writes);
        marks the state saved."""
        from ..io_utils import ensure_writable_dir

        paths = save_annotation(self.annotation(), ensure_writable_dir(out_dir))
        self._saved_token = self._state_token()
        self._saved = (self.labels.copy(), self.edited.copy())
        self.message = f"saved {paths[0]}"
        return paths


def _symmetric(n: int, edges: np.ndarray, weights: np.ndarray) -> sparse.csr_matrix:
    """(n, n) symmetric CSR matrix with ``weights`` on ``edges`` (E, 2) (as ``geometry.adjacency``, edges given)."""
    a = sparse.coo_matrix((weights, (edges[:, 0], edges[:, 1])), shape=(n, n))
    return (a + a.T).tocsr()


def heat_colors(confidence: np.ndarray, threshold: float = 0.6) -> np.ndarray:
    """(V, 3) float32: white for confident vertices, through yellow to red below ``threshold``."""
    t = np.clip((1.0 - np.asarray(confidence, np.float32)) / max(1.0 - threshold, 1e-6), 0.0, 1.0)  # 0 sure .. 1
    c = np.empty((len(t), 3), np.float32)
    c[:, 0] = 1.0
    c[:, 1] = 1.0 - 0.9 * t
    c[:, 2] = np.clip(1.0 - 2.0 * t, 0.0, 1.0)
    return c
