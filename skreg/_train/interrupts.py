"""Ctrl-C during training: a stop request every group sees at its next step, and work kept whole."""

import contextlib
import mmap
import os
import signal
import tempfile
import threading


class StopSignal(threading.Event):
    """A request to stop training, seen by every group of members at its next step, in threads or processes.

    An event within a process. While ``shared_with_workers()`` is active it
    is also kept in a one-byte memory-mapped file, which the copies pickled
    into joblib's worker processes on this machine open and read as cheaply
    as an event: a Ctrl-C in the parent then stops the members training
    there at their next step, and the workers send back what they trained;
    an interruption in a worker stops the others too. A copy that cannot
    open the file (a worker on another machine) sees only the interruptions
    of its own process.
    """

    def __init__(self):
        super().__init__()
        self._path = None
        self._shared = None

    def is_set(self) -> bool:
        if super().is_set():
            return True
        shared = self._shared
        try:
            if shared is None or not shared[0]:
                return False
        except ValueError:  # closed meanwhile: the fit it was shared for is over
            return False
        super().set()
        return True

    def set(self) -> None:
        super().set()
        shared = self._shared
        if shared is not None:
            with contextlib.suppress(ValueError):
                shared[0] = 1

    @contextlib.contextmanager
    def shared_with_workers(self):
        """Keep the signal in a file that copies in other processes (``pickle``) read and write."""
        descriptor, path = tempfile.mkstemp(prefix="skreg-stop-")
        try:
            os.write(descriptor, b"\x01" if self.is_set() else b"\x00")
            self._shared, self._path = mmap.mmap(descriptor, 1), path
            yield self
        finally:
            self.is_set()  # a worker's request becomes this event's
            shared, self._shared, self._path = self._shared, None, None
            if shared is not None:
                shared.close()
            os.close(descriptor)
            with contextlib.suppress(OSError):
                os.remove(path)

    def __reduce__(self):
        return _stop_signal_from, (self._path, self.is_set())


def _stop_signal_from(path: str | None, is_set: bool) -> StopSignal:
    """A ``StopSignal`` unpickled in another process: shared through ``path`` if this machine has it."""
    stop = StopSignal()
    if path is not None:
        try:
            with open(path, "r+b") as file:
                stop._shared = mmap.mmap(file.fileno(), 1)
            stop._path = path
        except (OSError, ValueError):
            pass  # another machine: only this process's own interruptions stop it
    if is_set:
        stop.set()
    return stop


@contextlib.contextmanager
def ctrl_c_sets(stop: threading.Event):
    """While members train, Ctrl-C sets ``stop`` instead of raising KeyboardInterrupt.

    Every group, the main thread's included, then stops at its next step as
    if interrupted, whatever the main thread was doing when the signal came
    (starting a thread, training, waiting, an epoch's bookkeeping). Only
    Python's default handler is replaced, and only in the main thread (the
    only one that receives signals, and the only one allowed to set handlers).
    """
    in_main_thread = threading.current_thread() is threading.main_thread()
    if not in_main_thread or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def even_if_interrupted(finish, *args) -> tuple:
    """``(finish(*args), False)``, or, if a KeyboardInterrupt cut ``finish`` short, ``(finish(*args), True)``.

    For the steps that put together work already done (the states of
    groups, the fitted attributes), which must not change what they read:
    run again, they start from the same inputs, and the work is kept. A
    second interruption propagates.
    """
    try:
        return finish(*args), False
    except KeyboardInterrupt:
        return finish(*args), True
