"""Child processes that die with their parent, even when the parent is killed with SIGKILL.

A command that starts a helper process (a temporary Prefect server, cloudflared) stops it on
every orderly exit; ``kill -9`` of the command leaves no exit path, so the kernel must do it:
Linux's ``prctl(PR_SET_PDEATHSIG)`` sends the child a signal when its parent dies
(https://man7.org/linux/man-pages/man2/pr_set_pdeathsig.2const.html). Elsewhere (macOS) it is
a no-op: only orderly exits stop the children there.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from collections.abc import Callable

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A ``preexec_fn`` for :class:`subprocess.Popen`: the child gets ``sig`` when we die.

    The signal is tied to the thread that forks the child (man page above): call ``Popen``
    from a thread that lives as long as the child should (the main thread in our commands;
    the tunnel's monitor thread for cloudflared).

    Args:
        sig: the signal the child receives (SIGTERM lets it clean up).

    Returns:
        A function to pass as ``preexec_fn``; it also ends the child at once if the parent
        died between ``fork`` and ``prctl``.
    """
    parent = os.getpid()
    if not sys.platform.startswith("linux"):
        return lambda: None
    # Resolved here, in the parent: between fork and exec the child of a threaded process may
    # only do async-signal-safe work, and loading a library (dlopen) is not.
    prctl = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent is already gone: follow it
            os.kill(os.getpid(), sig)

    return preexec
