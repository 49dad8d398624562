"""Hand edits carried across runs: ``facepart annotate ... --keep-edits FILE``.

A corrected ``annotation.npz`` (format 2) records which vertices a person set
by hand (``edited``) and the edits behind them (``edit_log``). When the
automatic run is repeated (more variants, another parser), those vertices keep
their hand labels; every other vertex takes the new run's label.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import numpy as np

from ..errors import FacepartError
from .annotation import Annotation


def now_iso() -> str:
    """The current UTC time as ISO 8601 with seconds (the edit log's time stamps)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def apply_kept_edits(new: Annotation, edited: Annotation, source: str = "the edited annotation") -> Annotation:
    """``new`` with the hand-edited vertices of ``edited`` keeping their hand labels.

    Args:
        new: the fresh automatic annotation (its votes, confidence and settings are kept).
        edited: an annotation saved by the correction viewer (it has an ``edited`` mask).
        source: how to name ``edited`` in error messages (e.g. its path).

    Returns:
        A new :class:`Annotation`: labels of ``new`` except where ``edited.edited`` is set,
        ``edited`` = that mask, ``edit_log`` = the old log plus one "keep-edits" entry, and
        ``settings["kept_edits"]`` saying where they came from.

    Raises:
        FacepartError: another topology; ``edited`` records no hand edits (format 1, or not
            corrected in the viewer); an edited vertex carries a part that ``new`` lacks.
    """
    edited.check_topology(new.fingerprint, "the new annotation")
    if edited.edited is None:
        raise FacepartError(f"{source} records no hand edits (saved before format 3, or never corrected in "
                            "`facepart correct`); nothing to keep")
    mask = np.asarray(edited.edited, bool)
    idx = np.flatnonzero(mask)
    old = edited.labels[idx]
    used = np.unique(old[old >= 0])
    missing = [edited.parts.names[i] for i in used if edited.parts.names[i] not in new.parts.names]
    if missing:
        raise FacepartError(f"{source}: hand-edited parts {missing} are not parts of the new run "
                            f"({list(new.parts.names)})")
    to_new = np.array([new.parts.names.index(n) if n in new.parts.names else -1 for n in edited.parts.names] + [-1])
    labels = new.labels.copy()
    labels[idx] = to_new[np.where(old >= 0, old, len(edited.parts.names))]
    changed = int((labels != new.labels).sum())
    log = list(edited.edit_log) + [{"time": now_iso(), "operation": "keep-edits", "count": int(len(idx)),
                                    "changed": changed}]
    settings = {**new.settings, "kept_edits": {"from": str(source), "vertices": int(len(idx)), "changed": changed}}
    return replace(new, labels=labels, edited=mask.copy(), edit_log=log, settings=settings)
