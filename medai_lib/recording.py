"""Publish key results from a notebook so that ``medai run`` can collect them.

``record("auc", 0.87)`` shows a one-line note in the notebook and attaches the value to the cell's
output under a dedicated MIME type; the runner reads it back from the executed notebook.
"""
from __future__ import annotations

import json
import math
from numbers import Number
from typing import Any

import numpy as np

RECORD_MIME = "application/vnd.medai.record+json"

_RECORDED: dict[str, Any] = {}


def _to_jsonable(value: Any, name: str) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        value = float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (int, str)) or value is None:
        return value
    if isinstance(value, Number):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v, name) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_jsonable(v, name) for k, v in value.items()}
    if hasattr(value, "item") and getattr(value, "size", None) == 1:
        return _to_jsonable(value.item(), name)
    raise TypeError(
        f"record({name!r}, ...) got a {type(value).__name__}; record numbers, strings, booleans or "
        "lists/dicts of those (convert arrays with float(x) or x.tolist())."
    )


def record(name: str, value: Any, *, display: bool = True) -> Any:
    """Publish a named result (a metric, a count, a short string) for the notebook runner.

    Parameters
    ----------
    name : str
        Identifier of the result, e.g. ``"test_auc"``. Letters, digits, ``_`` and ``.`` only.
    value : number, str, bool, or list/dict of those
        The value. NumPy scalars are converted; NaN and infinity are stored as ``None``.
    display : bool, default True
        Show a one-line note in the notebook. The value is attached either way.

    Returns
    -------
    The value, unchanged, so that ``auc = record("auc", compute_auc(...))`` reads naturally.

    Examples
    --------
    >>> from medai_lib import record
    >>> record("n_patients", 120, display=False)
    120
    """
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "_." for c in name):
        raise ValueError(
            f"record() name must be a non-empty string of letters, digits, '_' or '.'; got {name!r}."
        )
    payload = {"name": name, "value": _to_jsonable(value, name)}
    json.dumps(payload)  # fail here, not in the runner
    _RECORDED[name] = payload["value"]
    try:
        from IPython import get_ipython
        from IPython.display import display as ipy_display
    except ImportError:  # pragma: no cover - IPython is a dependency
        return value
    if get_ipython() is not None:
        shown = f"recorded {name} = {payload['value']!r}"
        bundle = {RECORD_MIME: payload, "text/plain": shown if display else ""}
        ipy_display(bundle, raw=True)
    return value


def recorded() -> dict[str, Any]:
    """Results recorded so far in this Python process (a copy)."""
    return dict(_RECORDED)
