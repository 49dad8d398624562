"""The one error type facepart raises for a user's mistake.

The CLI prints a ``FacepartError`` as a single line and exits non-zero; any
other exception is a bug in facepart and keeps its traceback.
"""


class FacepartError(Exception):
    """Bad input or environment, described in one line (what file, what was expected).

    The message is kept to one line whatever it quotes: line breaks and other
    control characters (from a name in a user's file) are shown escaped.
    """

    def __init__(self, message: object = "", *args):
        super().__init__(one_line(str(message)), *args)


def one_line(text: str) -> str:
    """``text`` with line breaks, control and other unprintable characters escaped (``\\n``, ``\\x85``), so a
    message that quotes a user's value or a file name is one line on the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class MissingDependency(FacepartError):
    """An optional package is needed for the requested feature."""


def require(module: str, feature: str, install: str):
    """Import ``module`` lazily, or raise a one-line ``MissingDependency``.

    Args:
        module: importable name, e.g. ``"mediapipe"``.
        feature: what needs it, e.g. ``"the mediapipe segmenter"``.
        install: the exact install command to suggest.
    """
    from .interrupts import import_held

    try:
        return import_held(module)
    except ImportError as exc:
        raise MissingDependency(
            f"{feature} needs the Python package '{module}' ({exc}); install it with: {install}"
        ) from None
