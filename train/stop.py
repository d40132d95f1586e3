"""A graceful stop on SIGTERM and SIGINT: the signal only sets a flag, so the training
loop finishes its step, writes a checkpoint and exits, and `--resume` continues the run.
A second signal acts as it would have without us (Ctrl-C twice stops at once)."""

import signal
import threading

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopOnSignal:
    """Context manager; `signum` is the first signal received (0 while none)."""

    def __init__(self):
        self.signum = 0
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # signals reach only it
            self._previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
        return self

    def _handle(self, signum, frame):
        self.signum = signum
        self._restore()

    def _restore(self):
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}

    def __exit__(self, *exc):
        self._restore()
