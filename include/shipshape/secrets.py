"""Secrets never reach a log: every credential read is registered here, and a logging filter on the root
logger replaces any registered value with `***` in every record, whatever logger emits it.

Airflow masks connection passwords it hands out itself; this covers what shipshape reads from the
environment, tokens the APIs issue at run time (OAuth and JWT access tokens), and non-Airflow runs.
"""

from __future__ import annotations

import logging
import sys
import threading

MASK = "***"
_secrets: set[str] = set()
_lock = threading.Lock()
_MIN_LENGTH = 6  # shorter values would mask ordinary words


def register_secret(value: object) -> None:
    if isinstance(value, str) and len(value) >= _MIN_LENGTH:
        with _lock:
            _secrets.add(value)
        _install()
        if "airflow.sdk" not in sys.modules:  # not inside Airflow: don't pay for importing it
            return
        try:  # also tell Airflow's masker, which guards the task log handlers
            from airflow.sdk.log import mask_secret
        except ImportError:  # another Airflow layout: our own filter still applies
            return
        mask_secret(value)


def redact(text: str) -> str:
    if not _secrets:
        return text
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            message = record.getMessage()
            clean = redact(message)
            if clean != message:
                record.msg, record.args = clean, None
        return True


_installed = False


def _install() -> None:
    """Attach the filter to the root logger's handlers and to every future record via a record factory."""
    global _installed
    if _installed:
        return
    _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        RedactingFilter().filter(record)
        return record

    logging.setLogRecordFactory(factory)
