"""Explaining risk to a patient: natural frequencies ("7 in 100 people like you") for absolute and relative
risk, and icon arrays that show them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medai_lib.errors import MedaiInputError


def _check_risk(value, name: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"'{name}' must be a probability (a number in [0, 1]); got {value!r}.") from None
    if not 0 <= value <= 1:
        raise MedaiInputError(f"'{name}' must be a probability in [0, 1] (e.g. 0.07 for 7%); got {value!r}.")
    return value


@dataclass(frozen=True)
class RiskMessage:
    """Absolute and relative risk of one person against a comparison person, per ``population``.

    Attributes
    ----------
    risk, baseline : float
        The person's and the comparison's absolute risk over ``years``.
    population : int
    affected, baseline_affected : int
        People out of ``population`` expected to be diagnosed (rounded).
    relative_risk : float
        ``risk / baseline``.
    extra : int
        ``affected - baseline_affected``: what the relative risk means in people.
    text : str
        The plain-language sentences.
    """

    risk: float
    baseline: float
    population: int
    years: float
    affected: int
    baseline_affected: int
    relative_risk: float
    extra: int
    text: str


def risk_message(risk: float, *, baseline: float, years: float = 10, population: int = 100,
                 who: str = "people like you", comparison: str = "people of the same age and sex with an "
                 "average genetic score") -> RiskMessage:
    """Natural-frequency phrasing of an absolute risk and of the relative risk against a baseline.

    Parameters
    ----------
    risk : float in [0, 1]
        The person's absolute risk over ``years``.
    baseline : float in (0, 1]
        The comparison's absolute risk over the same period.
    years : float, default 10
    population : int, default 100
        "out of 100" (use 1000 for small risks).
    who, comparison : str
        How to name the person's group and the comparison group.

    Returns
    -------
    RiskMessage

    Examples
    --------
    >>> from medai_lib.cancer.communicate import risk_message
    >>> m = risk_message(0.06, baseline=0.03)
    >>> m.affected, m.baseline_affected, m.relative_risk
    (6, 3, 2.0)
    >>> print(m.text.splitlines()[0])
    Out of 100 people like you, about 6 will be diagnosed with this cancer in the next 10 years; 94 will not.
    """
    risk = _check_risk(risk, "risk")
    baseline = _check_risk(baseline, "baseline")
    if baseline == 0:
        raise MedaiInputError("'baseline' must be above 0 to express a relative risk.")
    if isinstance(population, bool) or not isinstance(population, (int, np.integer)) or population < 10:
        raise MedaiInputError(f"'population' must be an int >= 10 (e.g. 100 or 1000); got {population!r}.")
    if not years > 0:
        raise MedaiInputError(f"'years' must be positive; got {years!r}.")
    affected = int(round(risk * population))
    base = int(round(baseline * population))
    rr = risk / baseline
    extra = affected - base
    period = f"in the next {years:g} years"
    lines = [
        f"Out of {population:,} {who}, about {affected} will be diagnosed with this cancer {period}; "
        f"{population - affected} will not.",
        f"Out of {population:,} {comparison}, about {base} will be.",
    ]
    if extra > 0:
        if 2 * affected < population:
            tail = (f"Most people with this risk ({population - affected} of {population:,}) will not get "
                    "this cancer.")
        else:
            tail = (f"At this risk most people ({affected} of {population:,}) will be diagnosed: a risk this "
                    "high calls for a specialist discussion, not a score alone.")
        lines.append(f"The risk is {rr:.1f} times as high: that is about {extra} more people out of "
                     f"{population:,}. {tail}")
    elif extra < 0:
        lines.append(f"That is about {-extra} fewer out of {population:,} ({rr:.1f} times the risk); a low "
                     "score does not mean no risk.")
    else:
        lines.append(f"The difference ({rr:.1f} times the risk) is less than one person out of "
                     f"{population:,}.")
    return RiskMessage(risk=risk, baseline=baseline, population=population, years=float(years),
                       affected=affected, baseline_affected=base, relative_risk=float(rr), extra=extra,
                       text="\n".join(lines))


def plot_icon_array(risk: float, *, baseline: float | None = None, population: int = 100, ax=None,
                    title: str | None = None, columns: int = 10):
    """Icon array: ``population`` people as dots, those expected to be diagnosed filled.

    With ``baseline``, the people who would be diagnosed anyway are drawn in one colour (blue) and the
    extra ones due to the higher risk in another (orange, with a different marker), so the picture also
    works without colour.

    Parameters
    ----------
    risk : float in [0, 1]
    baseline : float in [0, 1], optional
    population : int, default 100
    ax : matplotlib Axes, optional
    title : str, optional
    columns : int, default 10

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> from medai_lib.cancer.communicate import plot_icon_array
    >>> ax = plot_icon_array(0.06, baseline=0.03)
    >>> len(ax.collections)
    3
    """
    from medai_lib.plotting import OKABE_ITO, _axes, _describe

    risk = _check_risk(risk, "risk")
    affected = int(round(risk * population))
    base = affected if baseline is None else min(int(round(_check_risk(baseline, "baseline") * population)),
                                                 affected)
    ax = _axes(ax)
    k = np.arange(population)
    x, y = k % columns, -(k // columns)
    groups = [
        (k < base, OKABE_ITO["blue"], "o", "diagnosed anyway" if baseline is not None else "diagnosed"),
        ((k >= base) & (k < affected), OKABE_ITO["orange"], "s", "extra cases from the higher risk"),
        (k >= affected, "#d9d9d9", "o", "not diagnosed"),
    ]
    if baseline is None:
        groups.pop(1)
    for mask, color, marker, label in groups:
        ax.scatter(x[mask], y[mask], s=90, c=color, marker=marker, edgecolors="black", linewidths=0.4,
                   label=f"{label} ({int(mask.sum())})")
    ax.set_aspect("equal")
    ax.axis("off")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), fontsize="small", frameon=False)
    ax.set_title(title or f"{affected} out of {population}")
    _describe(ax, f"Icon array of {population} people: {affected} diagnosed"
              + (f", of whom {affected - base} are extra compared with the baseline" if baseline is not None
                 else "") + ".")
    return ax
