"""The options annotation writers take, parsed once: :class:`ExportOptions`.

Writers keep the plain signature ``write(annotation, path, **options)`` and
call ``ExportOptions.of(options)``; strings as typed on the command line
(``parts="nose,skin"``, ``groups="eyes=left_eye+right_eye,face=all"``) and
Python values (lists, dicts) are both accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import FacepartError

RULES = ("majority", "union")
TRI_RULES = ("all", "any", "majority")

#: ``--group default``: the usual hierarchy over the paper's parts
DEFAULT_GROUPS = {
    "face": ("all",),
    "eyes": ("left_eye", "right_eye"),
    "eyebrows": ("left_eyebrow", "right_eyebrow"),
    "lips": ("up_lip", "down_lip"),
}


@dataclass(frozen=True)
class ExportOptions:
    """What an annotation export may be asked for.

    Attributes:
        rule: "majority" (one part per vertex) or "union" (every part a vertex got a
            vote for; parts overlap); None = the annotation's own rule.
        parts: the parts (and groups) to write, in this order; None = all parts, then groups.
        groups: merged parts, name -> member part names ("all" = every part).
        model: the :class:`~facepart.data.FaceModel` (geometry for meshes, triangles, UVs).
        notes: a list the writer appends remarks to (coverage, what it left out).
        tri_rule: when a triangle belongs to a part: "all" 3 corners in it (MICA),
            "any" corner (SMIRK), or "majority" (2 of 3).
        split: meshes: one mesh per part.
        into: 3ddfa: a ``face_model.npy`` whose COPY receives the annotation.
        size: uvmask / preview: image size in pixels.
    """

    rule: str | None = None
    parts: tuple[str, ...] | None = None
    groups: dict[str, tuple[str, ...]] | None = None
    model: Any = None
    notes: list | None = None
    tri_rule: str | None = None
    split: bool = False
    into: Path | None = None
    size: int | None = None

    @classmethod
    def of(cls, options: dict) -> "ExportOptions":
        names = {f.name for f in fields(cls)}
        unknown = set(options) - names
        if unknown:
            raise FacepartError(f"unknown export option(s): {', '.join(sorted(unknown))}")
        o = dict(options)
        if o.get("rule") is not None and o["rule"] not in RULES:
            raise FacepartError(f"rule must be one of {', '.join(RULES)}, got '{o['rule']}'")
        if o.get("tri_rule") is not None and o["tri_rule"] not in TRI_RULES:
            raise FacepartError(f"tri-rule must be one of {', '.join(TRI_RULES)}, got '{o['tri_rule']}'")
        if o.get("parts") is not None:
            o["parts"] = parse_parts(o["parts"])
        if o.get("groups") is not None:
            o["groups"] = parse_groups(o["groups"])
        if o.get("into") is not None:
            o["into"] = Path(o["into"])
        if o.get("size") is not None:
            size = int(o["size"])
            if not 8 <= size <= 16384:
                raise FacepartError(f"size must be 8..16384 pixels, got {size}")
            o["size"] = size
        o["split"] = bool(o.get("split", False))
        return cls(**o)

    def note(self, text: str) -> None:
        if self.notes is not None:
            self.notes.append(text)

    def common(self) -> dict:
        """The options every annotation writer takes (to pass on to another writer)."""
        return {"rule": self.rule, "parts": self.parts, "groups": self.groups, "model": self.model,
                "notes": self.notes}


def parse_parts(value) -> tuple[str, ...]:
    """``"a,b"`` or ``["a", "b"]`` -> ``("a", "b")``."""
    items = value.split(",") if isinstance(value, str) else list(value)
    out = tuple(str(p).strip() for p in items if str(p).strip())
    if not out:
        raise FacepartError("--parts needs at least one part name")
    if len(set(out)) != len(out):
        raise FacepartError(f"--parts names a part twice: {','.join(out)}")
    return out


def parse_groups(value) -> dict[str, tuple[str, ...]]:
    """Merged parts from ``"face=all,eyes=left_eye+right_eye"`` (or several such strings, or a dict).

    ``default`` stands for :data:`DEFAULT_GROUPS`.
    """
    if isinstance(value, dict):
        items = [(str(k), v.split("+") if isinstance(v, str) else list(v)) for k, v in value.items()]
    else:
        texts = [value] if isinstance(value, str) else list(value)
        items = []
        for text in texts:
            for entry in str(text).split(","):
                entry = entry.strip()
                if not entry:
                    continue
                if entry == "default":
                    items += [(k, list(v)) for k, v in DEFAULT_GROUPS.items()]
                    continue
                name, sep, members = entry.partition("=")
                if not sep or not name.strip() or not members.strip():
                    raise FacepartError(f"--group expects NAME=PART+PART (or NAME=all, or 'default'), got '{entry}'")
                items.append((name.strip(), members.split("+")))
    out: dict[str, tuple[str, ...]] = {}
    for name, members in items:
        members = tuple(m.strip() for m in members if m.strip())
        if not members:
            raise FacepartError(f"group '{name}' has no members")
        out[name] = members
    return out
