"""The on-disk cache of generated sample data, keyed by generator, parameters and generator version.

Writes are atomic: a cohort is written into a private temporary folder and renamed into place, so two
kernels asking for the same cohort at once both end with the same complete folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from medai_lib.errors import MedaiInputError

_ENV = "MEDAI_DATA"
#: Read-only caches consulted before ``$MEDAI_DATA`` (``os.pathsep``-separated folders): a grading sandbox
#: reads the instructor's prepared sample data there and writes anything new to its own private cache.
_ENV_READONLY = "MEDAI_DATA_READONLY"


def readonly_homes() -> list[Path]:
    """Shared read-only caches (``$MEDAI_DATA_READONLY``), looked up before :func:`data_home`."""
    value = os.environ.get(_ENV_READONLY, "")
    return [Path(p) for p in value.split(os.pathsep) if p]


def data_home(*, create: bool = True) -> Path:
    """The folder holding cached sample data: ``$MEDAI_DATA`` if set, else ``~/.cache/medai`` (created unless
    ``create=False``)."""
    root = os.environ.get(_ENV)
    path = Path(root).expanduser() if root else Path.home() / ".cache" / "medai"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def cache_key(name: str, params: dict, version: str | int) -> str:
    """A stable folder name for ``name`` generated with ``params`` by generator ``version``."""
    try:
        blob = json.dumps({"params": params, "version": str(version)}, sort_keys=True, default=str)
    except TypeError as exc:  # pragma: no cover - default=str handles most things
        raise MedaiInputError(f"cache parameters for {name!r} must be JSON-serialisable: {exc}") from exc
    digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return f"{name}-v{version}-{digest}"


def get_or_create(
    name: str,
    params: dict,
    version: str | int,
    create: Callable[[Path], None],
    *,
    root: "str | os.PathLike | None" = None,
) -> Path:
    """Return the cached folder for (name, params, version), creating it with ``create(tmp_dir)`` if absent.

    Parameters
    ----------
    name : str
        Generator name, e.g. ``"fibrosis_cohort"``.
    params : dict
        Everything that changes the output (sizes, ``random_state``...). JSON-serialisable.
    version : str or int
        Bump it whenever the generator's output changes, so old caches are not reused.
    create : callable
        Called with an empty temporary folder; it writes the data there. The folder is renamed into
        place only when ``create`` returns, so a crash never leaves a half-written cohort behind.
    root : path, optional
        Cache root; defaults to :func:`data_home`.

    Returns
    -------
    pathlib.Path
        The complete cached folder.
    """
    if root is None:
        key = cache_key(name, params, version)
        for shared in readonly_homes():
            if (shared / key / ".complete").exists():
                return shared / key
    base = Path(root) if root is not None else data_home()
    base.mkdir(parents=True, exist_ok=True)
    final = base / cache_key(name, params, version)
    if (final / ".complete").exists():
        return final
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=base))
    try:
        create(tmp)
        (tmp / "params.json").write_text(
            json.dumps({"name": name, "version": str(version), "params": params}, indent=2, default=str)
        )
        (tmp / ".complete").touch()
        try:
            os.rename(tmp, final)
        except OSError:
            # Another process finished first (or a stale incomplete folder is in the way).
            if (final / ".complete").exists():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                shutil.rmtree(final, ignore_errors=True)
                os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
