"""Process lifetime on Linux: a child that must not outlive the process that started it."""
from __future__ import annotations

import signal

PR_SET_PDEATHSIG = 1


def stop_with_parent(sig: int = signal.SIGINT) -> None:
    """Ask Linux to send ``sig`` to this process when its parent dies (``PR_SET_PDEATHSIG``).

    Elsewhere (not Linux) nothing happens: the launcher's own shutdown is all there is.
    """
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except OSError:
        pass
