"""The `facepart` command run as a user runs it: a fresh ``python -m facepart`` process."""

import os
import subprocess
import sys

ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}


def facepart(*args, cwd=None, timeout: float = 600, **env) -> subprocess.CompletedProcess:
    """Run ``facepart ARGS`` (each turned into a string) with ``env`` added to :data:`ENV`; output captured."""
    return subprocess.run([sys.executable, "-m", "facepart", *map(str, args)], capture_output=True, text=True,
                          env={**ENV, **env}, cwd=cwd, timeout=timeout)
