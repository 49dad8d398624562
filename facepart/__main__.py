"""``python -m facepart``: the command line (guarded: worker processes import this module too)."""

if __name__ == "__main__":
    try:
        from .cli import run
    except KeyboardInterrupt:  # Ctrl-C while the command line's modules load: nothing to keep or clean up
        import os
        import sys

        sys.stderr.write("\ninterrupted; nothing was written\n")
        sys.stderr.flush()
        os._exit(130)  # not sys.exit: finalising half-imported extension modules can die of the same signal
    run()
