"""SIGTERM stops membench as Ctrl-C does, so a time limit (a scheduler's, `timeout`'s, `kill`'s)
leaves every trial in flight recorded as cut off and the same command resumes."""

from __future__ import annotations

import contextlib
import signal
import threading


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_stops():
    """SIGTERM raises KeyboardInterrupt while inside: trials in flight are recorded as cut off,
    and the same command resumes. Ctrl-C cannot reach a job started in the background (`nohup
    membench run ... &` ignores SIGINT); SIGTERM can. Entered again after `ray.init`, which sets
    its own handler (exit at once, nothing recorded)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)
