"""The ``facepart`` command line.

Commands parse options, call the library, and print; a user's mistake is one
line on stderr and a non-zero exit code (``FacepartError``), never a traceback.
The group lives here; each family of commands is a module of this package
(``annotate``: annotate, render, vote, merge; ``info``: segment, info, formats, labelsets;
``export``: export, transfer, compare; ``landmarks``: landmarks; ``report``: report; ``correct``: correct).
"""

from __future__ import annotations

import os
import sys

import click

from .. import __version__
from ..errors import FacepartError, one_line
from ..interrupts import sigterm_received, stop_on_sigterm
from ..renderers.pyrender_backend import PLATFORMS


#: Exit code of a run stopped by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130
#: Exit code of a run stopped by SIGTERM (128 + SIGTERM): a batch scheduler's stop, or ``kill``.
EXIT_TERMINATED = 143


class FacepartCommand(click.Command):
    """A command that refuses an empty value for any option or argument (an unset shell variable, a stray ''):
    one usage line naming it, instead of a path '' that the library would read as the current folder."""

    def parse_args(self, ctx, args):
        rest = super().parse_args(ctx, args)
        for param in self.get_params(ctx):
            value = ctx.params.get(param.name)
            if any(isinstance(v, str) and v == "" for v in (value if isinstance(value, tuple) else (value,))):
                raise click.BadParameter("must not be empty (an unset shell variable?)", ctx=ctx, param=param)
        return rest


class FacepartGroup(click.Group):
    """Turns FacepartError into a one-line click error (exit code 1) and Ctrl-C into one line and exit 130; every
    error stays one line, also when it quotes a value or path that holds a line break."""

    command_class = FacepartCommand

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.ClickException as exc:
            raise _one_line_error(exc)
        except KeyboardInterrupt as exc:  # else click answers "Aborted!" and exit 1
            interrupted(exc)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FacepartError as exc:
            raise click.ClickException(str(exc)) from None  # one line already
        except click.ClickException as exc:
            raise _one_line_error(exc)
        except KeyboardInterrupt as exc:
            interrupted(exc)


def _one_line_error(exc: click.ClickException) -> click.ClickException:
    exc.message = one_line(exc.message)
    return exc


@click.group(cls=FacepartGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="facepart")
@click.option("--gl", type=click.Choice(PLATFORMS), default=None,
              help="OpenGL platform for rendering (default: $PYOPENGL_PLATFORM, else EGL, else OSMesa).")
def main(gl):
    """Make part index files (eyes, brows, lips, nose, skin) for 3D face models."""
    if gl:
        os.environ["PYOPENGL_PLATFORM"] = gl


def interrupted(exc: BaseException | None = None) -> None:
    """Say what an interrupted command kept, and exit with :data:`EXIT_INTERRUPTED` (after a SIGTERM:
    :data:`EXIT_TERMINATED`)."""
    message = getattr(exc, "message", None) or "interrupted; nothing was written"
    terminated = sigterm_received()
    if terminated:
        message = f"SIGTERM: {message}"
    try:
        click.echo(f"\n{message}", err=True)
    finally:
        sys.exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)


def run() -> None:
    """The ``facepart`` program: :data:`main` with Ctrl-C answered by exit 130 at any moment, also while
    the commands' modules are imported, and SIGTERM (a batch scheduler's stop) answered the same way."""
    stop_on_sigterm()
    try:
        main()
    except KeyboardInterrupt as exc:
        interrupted(exc)


from . import annotate, correct, export, info, landmarks, report  # noqa: E402,F401  (each module adds its commands to ``main``)

if __name__ == "__main__":  # pragma: no cover
    run()
