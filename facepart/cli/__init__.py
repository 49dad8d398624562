"""The ``facepart`` command line.

Commands parse options, call the library, and print; a user's mistake is one
line on stderr and a non-zero exit code (``FacepartError``), never a traceback.
The group lives here; each family of commands is a module of this package
(``run``: annotate, render, vote; ``info``: segment, info, formats, labelsets;
``correct``: the correction viewer).
"""

from __future__ import annotations

import os

import click

from .. import __version__
from ..errors import FacepartError


class FacepartGroup(click.Group):
    """Turns FacepartError into a one-line click error (exit code 1)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FacepartError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=FacepartGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="facepart")
@click.option("--gl", type=click.Choice(["egl", "osmesa"]), default=None,
              help="OpenGL platform for rendering (default: $PYOPENGL_PLATFORM, else EGL, else OSMesa).")
def main(gl):
    """Make part index files (eyes, brows, lips, nose, skin) for 3D face models."""
    if gl:
        os.environ["PYOPENGL_PLATFORM"] = gl


from . import correct, info, run  # noqa: E402,F401  (each module adds its commands to ``main``)

if __name__ == "__main__":  # pragma: no cover
    main()
