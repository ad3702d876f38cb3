"""Project exceptions: every message names the input, what is wrong and how to fix it."""
from __future__ import annotations


class MedaiError(Exception):
    """Base class for errors raised on purpose by medai_lib and the ``medai`` command."""


class MedaiInputError(MedaiError, ValueError):
    """Bad input at a public entry point (argument, file or folder)."""


class DeviceNotAvailableError(MedaiError, RuntimeError):
    """The requested compute device is not present on this machine."""
