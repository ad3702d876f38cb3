"""Pickle-free storage of the apnea track's cached results (tables and arrays) in a cache folder.

The folders themselves come from :func:`medai_lib.data.cache.get_or_create` (atomic: written in a
temporary folder, renamed into place). Tables are stored column by column in an uncompressed ``.npz``
with a JSON list of columns and dtypes, arrays as ``.npy``; everything loads with ``allow_pickle=False``.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from types import ModuleType
from typing import Callable

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError


def code_digest(*modules: ModuleType) -> str:
    """A short hash of the source files of ``modules``: part of every cache key, so that editing the
    simulator, the features or the scorer never reuses results of the old code (a safety net under the
    explicit version constants)."""
    h = hashlib.sha256()
    for module in modules:
        path = getattr(module, "__file__", None)
        h.update(module.__name__.encode())
        if path and Path(path).is_file():
            h.update(Path(path).read_bytes())
    return h.hexdigest()[:12]


def cached_folder(name: str, params: dict, version: str, create: Callable[[Path], None]) -> Path:
    """:func:`medai_lib.data.cache.get_or_create` under ``$MEDAI_DATA``; when the entry is new, entries of
    ``name`` with the same parameters from older code (another version or code digest) are removed, so
    editing the library does not pile up stale copies (a full-size minute dataset is about 600 MB)."""
    from medai_lib.data.cache import cache_key, data_home, get_or_create

    existed = (data_home() / cache_key(name, params, version) / ".complete").exists()
    folder = get_or_create(name, params, version, create)
    if not existed and folder.parent == data_home():  # never prune a shared read-only cache
        _prune_superseded(folder)
    return folder


def _same_but_code(params: dict) -> dict:
    return {k: v for k, v in params.items() if k != "code"}


def _prune_superseded(folder: Path) -> None:
    meta = json.loads((folder / "params.json").read_text())
    mine = _same_but_code(meta["params"])
    for other in folder.parent.glob(f"{meta['name']}-v*"):
        if other == folder or not (other / ".complete").exists():
            continue
        try:
            theirs = json.loads((other / "params.json").read_text())
        except (OSError, ValueError):
            continue
        if theirs.get("name") == meta["name"] and _same_but_code(theirs.get("params", {})) == mine:
            shutil.rmtree(other, ignore_errors=True)


def save_frame(df: pd.DataFrame, folder: Path, name: str) -> None:
    """Write ``df`` (default RangeIndex, numeric, bool or string columns) as ``name.npz`` + ``name.json``."""
    if not isinstance(df.index, pd.RangeIndex) or df.index.start != 0 or df.index.step != 1:
        raise MedaiInputError(f"only tables with a default index can be cached; {name!r} has {df.index!r}.")
    arrays, schema = {}, []
    for i, col in enumerate(df.columns):
        s = df[col]
        key = f"c{i}"
        if s.dtype.kind in "biuf" and isinstance(s.dtype, np.dtype):
            arrays[key] = s.to_numpy()
            kind = "numpy"
        else:  # strings (object or pandas "str" dtype): unicode array + missing mask, re-inferred on load
            missing = s.isna().to_numpy()
            values = s.to_numpy(dtype=object)
            if not all(isinstance(v, str) for v in values[~missing]):
                raise MedaiInputError(f"column {col!r} of {name!r} holds non-string objects; cannot cache it.")
            arrays[key] = np.array(["" if m else v for v, m in zip(values, missing)], dtype=str)
            arrays[key + "_na"] = missing
            kind = "string"
        schema.append({"name": str(col), "kind": kind, "dtype": str(s.dtype)})
    np.savez(folder / f"{name}.npz", **arrays)
    (folder / f"{name}.json").write_text(json.dumps({"n_rows": len(df), "columns": schema}, indent=1))


def load_frame(folder: Path, name: str) -> pd.DataFrame:
    """Read a table written by :func:`save_frame` (same columns, dtypes, values and index)."""
    meta = json.loads((folder / f"{name}.json").read_text())
    cols = {}
    with np.load(folder / f"{name}.npz", allow_pickle=False) as z:
        for i, spec in enumerate(meta["columns"]):
            values = z[f"c{i}"]
            if spec["kind"] == "string":
                obj = values.astype(object)
                obj[z[f"c{i}_na"]] = None
                s = pd.Series(obj)  # the same inference as when the table was built from Python strings
                if str(s.dtype) != spec["dtype"]:
                    s = s.astype(spec["dtype"])
                cols[spec["name"]] = s
            else:
                cols[spec["name"]] = pd.Series(values)
    return pd.DataFrame(cols, index=pd.RangeIndex(meta["n_rows"]))


def save_array(a: np.ndarray, folder: Path, name: str) -> None:
    np.save(folder / f"{name}.npy", np.ascontiguousarray(a), allow_pickle=False)


def load_array(folder: Path, name: str) -> np.ndarray:
    return np.load(folder / f"{name}.npy", allow_pickle=False)


__all__ = ["cached_folder", "code_digest", "load_array", "load_frame", "save_array", "save_frame"]
