"""Fixtures shared by several test modules."""

import signal
import threading

import pytest


@pytest.fixture
def ctrl_c_raises():
    """SIGINT has Python's default handler (KeyboardInterrupt) for the test, as in a terminal.

    A process started in the background (``cmd &`` in a script) inherits SIGINT
    ignored, and then a Ctrl-C test's signal would do nothing. The handler in
    place before the test is restored after it.
    """
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers can only be set from the main thread")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
