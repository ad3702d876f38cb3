"""Assertions for graded lab cells: on failure they say what the learner's code returned, what kind of
value was expected and give a hint; known misconceptions are named when the value matches one.

Each raises :class:`CheckFailed` (an AssertionError), which nbgrader records as a failed test cell.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np


class CheckFailed(AssertionError):
    """A graded check did not pass; the message is written for the learner."""


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    return math.isclose(float(a), float(b), rel_tol=rtol, abs_tol=atol)


def expect_close(
    actual: Any,
    expected: float,
    *,
    what: str,
    hint: str,
    rtol: float = 1e-3,
    atol: float = 1e-9,
    misconceptions: Iterable[tuple[float, str]] = (),
) -> None:
    """Check that ``actual`` is a number close to ``expected``.

    Parameters
    ----------
    actual : the learner's value
    expected : float, the correct value
    what : str, the call that produced it, e.g. ``"bmi(70, 1.75)"``
    hint : str, one sentence that helps without giving the answer away
    misconceptions : pairs (value a typical mistake gives, name of the mistake)
    """
    if actual is None:
        raise CheckFailed(f"{what} returned None. Did you forget the `return` statement? Hint: {hint}")
    if isinstance(actual, np.ndarray) and actual.size == 1:
        actual = actual.item()
    if not _is_number(actual):
        raise CheckFailed(
            f"{what} returned {actual!r} (a {type(actual).__name__}); expected a single number. Hint: {hint}"
        )
    if not math.isfinite(float(actual)):
        raise CheckFailed(f"{what} returned {actual!r}; expected a finite number. Hint: {hint}")
    if _close(actual, expected, rtol, atol):
        return
    for wrong_value, name in misconceptions:
        if _close(actual, wrong_value, max(rtol, 1e-3), atol):
            raise CheckFailed(
                f"{what} returned {float(actual):.4g}, expected about {expected:.4g}. "
                f"This is the value you get with a common mistake: {name}. Hint: {hint}"
            )
    raise CheckFailed(f"{what} returned {float(actual):.4g}, expected about {expected:.4g}. Hint: {hint}")


def expect_equal(actual: Any, expected: Any, *, what: str, hint: str,
                 misconceptions: Iterable[tuple[Any, str]] = ()) -> None:
    """Check that ``actual == expected`` (strings, labels, booleans)."""
    if actual is None and expected is not None:
        raise CheckFailed(f"{what} returned None. Did you forget the `return` statement? Hint: {hint}")
    if type(actual).__module__ == "numpy" and hasattr(actual, "item"):
        actual = actual.item()
    if actual == expected:
        return
    for wrong_value, name in misconceptions:
        if actual == wrong_value:
            raise CheckFailed(
                f"{what} returned {actual!r}, expected {expected!r}. This is a common mistake: {name}. Hint: {hint}"
            )
    raise CheckFailed(f"{what} returned {actual!r}, expected {expected!r}. Hint: {hint}")


def expect_sequence(actual: Any, expected: list, *, what: str, hint: str,
                    misconceptions: Iterable[tuple[list, str]] = ()) -> None:
    """Check a list/Series/array of labels element by element; name the first mismatch."""
    try:
        values = list(actual)
    except TypeError:
        raise CheckFailed(f"{what} returned {actual!r}; expected a list or column of {len(expected)} values. "
                          f"Hint: {hint}") from None
    if len(values) != len(expected):
        raise CheckFailed(f"{what} returned {len(values)} values; expected {len(expected)} (one per row). Hint: {hint}")
    values = [v.item() if hasattr(v, "item") else v for v in values]
    if values == list(expected):
        return
    for wrong, name in misconceptions:
        if values == list(wrong):
            raise CheckFailed(f"{what} gave {values!r}; expected {list(expected)!r}. Common mistake: {name}. Hint: {hint}")
    i = next(i for i, (a, b) in enumerate(zip(values, expected)) if a != b)
    raise CheckFailed(f"{what}: value #{i + 1} is {values[i]!r}, expected {expected[i]!r}. Hint: {hint}")
