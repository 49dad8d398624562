"""A private X display (Xvfb) for running the viewer where there is no screen: screenshots, CI, tests.

Xvfb chooses a free display number itself (``-displayfd``), so several runs
on one machine never collide.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np

from ..errors import FacepartError


class VirtualDisplay(NamedTuple):
    name: str  # e.g. ":7"
    process: subprocess.Popen
    fbdir: Path | None  # where Xvfb keeps the screen as an XWD file (``-fbdir``), if asked

    def screen(self) -> np.ndarray:
        """(H, W, 3) uint8: what the screen shows now (needs ``fbdir``)."""
        if self.fbdir is None:
            raise FacepartError("this virtual display was started without fbdir")
        return read_xwd(self.fbdir / "Xvfb_screen0")


@contextlib.contextmanager
def virtual_display(size: tuple[int, int] = (1600, 1000), fbdir: str | Path | None = None,
                    timeout: float = 30.0, outlive: bool = False) -> Iterator[VirtualDisplay]:
    """Start ``Xvfb`` on a free display number; stop it on exit.

    Args:
        size: screen width and height.
        fbdir: keep the framebuffer in this folder as ``Xvfb_screen0`` (an XWD file), for screenshots
            of whole windows.
        timeout: seconds to wait for the server.
        outlive: when the block ends without an error, leave the server running; it exits by itself
            when its last client disconnects (``-terminate``). For a process whose X connection stays
            open until it exits (Open3D's), so that stopping the server early does not kill it.
    """
    exe = shutil.which("Xvfb")
    if exe is None:
        raise FacepartError("no display ($DISPLAY is not set) and no Xvfb to make one: run it on a desktop, or "
                            "install Xvfb (Debian: apt-get install xvfb)")
    read_fd, write_fd = os.pipe()
    args = [exe, "-displayfd", str(write_fd), "-screen", "0", f"{size[0]}x{size[1]}x24", "-nolisten", "tcp"]
    args += ["-terminate"] if outlive else ["-noreset"]
    if fbdir is not None:
        Path(fbdir).mkdir(parents=True, exist_ok=True)
        args += ["-fbdir", str(fbdir)]
    proc = subprocess.Popen(args, pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    os.close(write_fd)
    try:
        number = b""
        deadline = time.monotonic() + timeout
        while not number.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([read_fd], [], [], max(left, 0))
            if not ready:
                raise FacepartError(f"Xvfb did not start within {timeout:.0f} s")
            chunk = os.read(read_fd, 64)
            if not chunk:
                raise FacepartError(f"Xvfb exited at start-up (code {proc.wait()})")
            number += chunk
        yield VirtualDisplay(f":{int(number.strip())}", proc, Path(fbdir) if fbdir is not None else None)
    except BaseException:
        outlive = False
        raise
    finally:
        os.close(read_fd)
        if not outlive:
            stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """Terminate a server process (kill it if it does not stop within 10 s)."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def read_xwd(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB from an XWD file of a 24/32-bit TrueColor screen (what ``Xvfb -fbdir`` keeps)."""
    data = np.fromfile(path, np.uint8)
    header = data[:100].view(">u4")
    header_size, width, height = int(header[0]), int(header[4]), int(header[5])
    byte_order, bits_per_pixel, bytes_per_line = int(header[7]), int(header[11]), int(header[12])
    red_mask, ncolors = int(header[14]), int(header[19])
    if bits_per_pixel != 32:
        raise FacepartError(f"{path}: {bits_per_pixel}-bit XWD, expected 32")
    start = header_size + 12 * ncolors
    rows = data[start:start + bytes_per_line * height].reshape(height, bytes_per_line)[:, :4 * width]
    px = rows.reshape(height, width, 4)
    if byte_order == 0:  # LSBFirst: B, G, R, X in memory for red mask 0xff0000
        rgb = px[..., [2, 1, 0]] if red_mask == 0xFF0000 else px[..., [0, 1, 2]]
    else:
        rgb = px[..., [1, 2, 3]] if red_mask == 0xFF0000 else px[..., [3, 2, 1]]
    return np.ascontiguousarray(rgb)
