"""Errors nobody catches (the main thread's, other threads', unraisable ones) and warnings go through the logging
handlers and their redaction, never straight to stderr (issue 10, point 2)."""

from __future__ import annotations

import gc
import io
import logging
import sys
import threading
import warnings
from collections.abc import Iterator

import pytest

from app import RedactingFilter, log_uncaught

SECRET = "s3cret-value-of-the-bot"


@pytest.fixture
def redacted_log() -> Iterator[io.StringIO]:
    """The root logger writing through a redacting handler, as main() sets it up; the hooks restored afterwards."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter([SECRET]))
    root = logging.getLogger()
    saved = (sys.excepthook, threading.excepthook, sys.unraisablehook, warnings.showwarning)
    root.addHandler(handler)
    try:
        log_uncaught()
        yield stream
    finally:
        root.removeHandler(handler)
        sys.excepthook, threading.excepthook, sys.unraisablehook, warnings.showwarning = saved
        logging.captureWarnings(False)


class _Unraisable:
    def __del__(self) -> None:
        raise RuntimeError(f"in __del__ with {SECRET}")


def test_uncaught_errors_and_warnings_are_logged_redacted_not_printed(
    redacted_log: io.StringIO, capfd: pytest.CaptureFixture[str]
) -> None:
    try:
        raise RuntimeError(f"main thread failed with {SECRET}")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())  # what the interpreter does with an exception nobody caught

    def fail() -> None:
        raise ValueError(f"thread failed with {SECRET}")

    thread = threading.Thread(target=fail, name="worker")
    thread.start()
    thread.join()
    _Unraisable()
    gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # the suite turns warnings into errors
        warnings.warn(f"a warning about {SECRET}", UserWarning, stacklevel=1)

    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and SECRET not in out + err
    logged = redacted_log.getvalue()
    assert SECRET not in logged and logged.count("[redacted]") >= 4
    for seen in ("main thread failed", "thread failed", "in __del__", "a warning about", "Traceback"):
        assert seen in logged, seen
