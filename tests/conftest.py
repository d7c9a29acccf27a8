"""Fixtures shared by several test modules."""

import importlib.util
import signal
import sys
import threading

import pytest

# What the test modules import at their top: skreg's own dependencies and the ``test`` extra's.
TEST_DEPENDENCIES = {"numpy": "numpy", "scipy": "scipy", "sklearn": "scikit-learn", "joblib": "joblib",
                     "threadpoolctl": "threadpoolctl", "pandas": "pandas", "hypothesis": "hypothesis",
                     "skops": "skops"}


def pytest_configure(config):
    """One clear error when the test dependencies are missing, instead of an import error per module."""
    missing = [package for module, package in TEST_DEPENDENCIES.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise pytest.UsageError(
            f"skreg's tests need {', '.join(missing)}, which this Python ({sys.executable}) lacks. "
            'Install them as the README says: python -m pip install ".[test]" (in a fresh python -m venv).')


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
