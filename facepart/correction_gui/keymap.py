"""The correction viewer's keys and mouse bindings: one table for the window, ``--help``, the panel and the README."""

from __future__ import annotations

#: (keys, what they do), in the order they are listed.
KEYMAP: tuple[tuple[str, str], ...] = (
    ("1 .. 9", "make part 1..9 the active part (the panel numbers them); 0 = the eraser"),
    ("Tab / Shift+Tab", "next / previous part"),
    ("[  ]", "brush smaller / larger (x1.25; radius in mm along the surface)"),
    ("B", "brush tool: left-drag paints the active part"),
    ("E", "erase tool: left-drag unlabels"),
    ("Q", "lasso tool: left-drag draws a lasso that selects vertices"),
    ("R", "rectangle tool: left-drag selects the vertices in a rectangle"),
    ("F", "fill tool: click floods the clicked label's connected region with the active part"),
    ("Space", "navigate tool (left-drag rotates)"),
    ("Ctrl+left-drag", "paint with the active part, in any tool"),
    ("Ctrl+Shift+left-drag", "erase (unlabel), in any tool"),
    ("Shift+lasso/rectangle", "add to the selection (Alt: remove from it)"),
    ("+  -", "grow / shrink the selection by one ring"),
    ("Enter", "assign the selection to the active part"),
    ("Delete / Backspace", "unlabel the selection"),
    ("A", "select every vertex of the active part"),
    ("D", "clear the selection"),
    ("T", "toggle brush and lasso: visible vertices only / through the mesh"),
    ("M", "mirror mode: repeat every edit on the other side, swapping left and right parts"),
    ("L", "lock / unlock the active part (locked parts are never overwritten)"),
    ("H", "hide / show the active part"),
    ("O", "show the active part only (again: show all)"),
    ("U", "show unlabelled vertices (magenta)"),
    ("C", "heat map of low confidence (from the vote table)"),
    ("N", "fly to the next uncertain region"),
    ("I", "fly to the next island (a stray piece of a part)"),
    ("V", "cycle front / left / right view; Home: reset the view"),
    ("Ctrl+Z / Ctrl+Y", "undo / redo (Ctrl+Shift+Z also redoes); at least 200 steps"),
    ("Ctrl+S", "save annotation.npz and parts.json (the window stays open)"),
    ("Ctrl+Q", "close (asks Save / Discard / Cancel when edits are unsaved)"),
    ("Esc", "closes the window at once (Open3D's own key): unsaved edits then go to a recovery folder"),
    ("Left-drag / wheel / right-drag", "rotate / zoom / pan (navigate tool)"),
)


def keymap_text(indent: str = "  ") -> str:
    """The keymap as aligned plain-text lines."""
    width = max(len(k) for k, _ in KEYMAP)
    return "\n".join(f"{indent}{k:<{width}}  {v}" for k, v in KEYMAP)


def keymap_markdown() -> str:
    """The keymap as a Markdown table (for the README)."""
    rows = ["| Keys | Action |", "|---|---|"]
    rows += [f"| `{k}` | {v} |" for k, v in KEYMAP]
    return "\n".join(rows)
