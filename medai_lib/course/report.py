"""The course report: one readable HTML page for one or several notebook runs (status, time, device, peak
GPU memory, recorded metrics, declared budgets), linked to the executed notebooks.

``medai run --report`` writes it for a run; ``medai report merge RUN_DIR... --out DIR`` combines runs (one
per track on a GPU host, say) into one page, each part stamped with its commit, date and device.
"""
from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from medai_lib.errors import MedaiInputError

# Okabe-Ito: blue for passed, vermillion for failed, orange for over budget; every status also has a
# symbol and a word, so no reader depends on colour.
_COLOURS = {"passed": "#0072B2", "failed": "#D55E00", "over budget": "#E69F00", "ink": "#000000",
            "muted": "#555555"}
_SYMBOLS = {"passed": "✔", "failed": "✘", "over budget": "⚠"}
#: The three AUCs shown side by side where a notebook records them.
AUC_KEYS = ("auc", "oracle_auc", "baseline_auc")


@dataclass(frozen=True)
class BudgetCheck:
    """A notebook's run measured against its declared budget.

    Attributes
    ----------
    declared : bool
        The notebook declares a budget for this mode (quick: ``quick_cpu_s``; full: ``full_gpu_min``).
    seconds, budget_s : float
        Time taken and time allowed (``budget_s`` is None when not declared).
    gpu_memory_gb, gpu_budget_gb : float or None
        Peak GPU memory recorded and allowed (full mode only).
    over_time, over_memory : bool
    """

    declared: bool
    seconds: float
    budget_s: float | None
    gpu_memory_gb: float | None
    gpu_budget_gb: float | None
    over_time: bool
    over_memory: bool

    @property
    def over(self) -> bool:
        return self.over_time or self.over_memory


def check_budget(result, *, quick: bool) -> BudgetCheck:
    """Compare one :class:`~medai_lib.course.runner.NotebookResult` with its declared budget.

    Quick runs are held to ``quick_cpu_s`` seconds; full runs to ``full_gpu_min`` minutes and, where the
    kernel recorded its peak GPU memory, to ``gpu_memory_gb``. Time is the notebook's wall time in the runner
    (kernel start included).

    Examples
    --------
    >>> from medai_lib.course.runner import NotebookResult
    >>> r = NotebookResult("a.ipynb", "ok", 42.0, None, budget={"quick_cpu_s": 30})
    >>> check_budget(r, quick=True).over_time
    True
    """
    budget = result.budget or {}
    gpu_budget = gpu_peak = None
    if quick:
        limit = _positive(budget.get("quick_cpu_s"))
    else:
        minutes = _positive(budget.get("full_gpu_min"))
        limit = minutes * 60 if minutes is not None else None
        gpu_budget = _non_negative(budget.get("gpu_memory_gb"))
        gpu_peak = result.gpu_peak_memory_gb
    seconds = float(result.seconds)
    return BudgetCheck(
        declared=limit is not None,
        seconds=seconds,
        budget_s=limit,
        gpu_memory_gb=gpu_peak,
        gpu_budget_gb=gpu_budget,
        over_time=limit is not None and seconds > limit,
        over_memory=gpu_budget is not None and gpu_peak is not None and gpu_peak > gpu_budget,
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive(value: Any) -> float | None:
    return float(value) if _is_number(value) and value > 0 else None


def _non_negative(value: Any) -> float | None:
    return float(value) if _is_number(value) and value >= 0 else None


def status_of(result, *, quick: bool) -> str:
    """"failed", "over budget" (ran, but over its declared budget) or "passed"."""
    if not result.ok:
        return "failed"
    return "over budget" if check_budget(result, quick=quick).over else "passed"


def load_run(run_dir: str | os.PathLike):
    """Read a run's ``summary.json`` (as written by ``medai run``) back into a RunSummary.

    Raises
    ------
    MedaiInputError
        When the folder holds no summary.json, or the file is not a run summary.
    """
    from medai_lib.course.runner import RunSummary

    path = Path(run_dir)
    path = path / "summary.json" if path.is_dir() or not path.suffix else path
    if not path.exists():
        raise MedaiInputError(
            f"run folder '{run_dir}' holds no summary.json; pass the --out folder of a `medai run`."
        )
    try:
        data = json.loads(path.read_text())
        summary = RunSummary.from_json(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise MedaiInputError(
            f"'{path}' is not a `medai run` summary ({type(exc).__name__}: {exc})."
        ) from exc
    # Executed notebooks are taken from beside the summary, so a run folder that was moved or copied
    # (committed results, say) links to its own copies.
    summary.out_dir = str(path.parent)
    for r in summary.results:
        beside = path.parent / r.notebook.lstrip("/")
        if beside.is_file():
            r.output = str(beside)
    return summary


# ------------------------------------------------------------------------------------------------ rendering
def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, dict)):
        text = json.dumps(value)
        return text if len(text) <= 80 else text[:77] + "..."
    return str(value)


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def _auc_cell(metrics: dict[str, Any]) -> str:
    model, oracle, baseline = (metrics.get(k) if _is_number(metrics.get(k)) else None for k in AUC_KEYS)
    if model is None and oracle is None and baseline is None:
        return ""
    parts = [f"{label} {v:.3f}" for label, v in (("model", model), ("oracle", oracle), ("baseline", baseline))
             if v is not None]
    text = " · ".join(parts)
    if None not in (model, oracle, baseline) and oracle > baseline:
        closed = 100 * (model - baseline) / (oracle - baseline)
        text += f"<br><span class='muted'>closes {closed:.0f}% of the baseline-to-oracle gap</span>"
    return f"<div class='auc'>{_auc_svg(model, oracle, baseline)}<div>{text}</div></div>"


def _auc_svg(model, oracle, baseline) -> str:
    """A 0.5-1.0 scale with the three AUCs as distinct shapes (shape and label, not colour alone)."""
    width, left, right, y = 200, 8, 186, 14

    def x(v: float) -> float:
        return left + (min(max(v, 0.5), 1.0) - 0.5) / 0.5 * (right - left)

    marks = []
    if baseline is not None:
        marks.append(f"<rect x='{x(baseline) - 4:.1f}' y='{y - 4}' width='8' height='8' "
                     f"fill='{_COLOURS['over budget']}'><title>baseline {baseline:.3f}</title></rect>")
    if oracle is not None:
        cx = x(oracle)
        marks.append(f"<polygon points='{cx:.1f},{y - 6} {cx + 5:.1f},{y} {cx:.1f},{y + 6} {cx - 5:.1f},{y}' "
                     f"fill='{_COLOURS['ink']}'><title>oracle {oracle:.3f}</title></polygon>")
    if model is not None:
        marks.append(f"<circle cx='{x(model):.1f}' cy='{y}' r='4.5' fill='{_COLOURS['passed']}'>"
                     f"<title>model {model:.3f}</title></circle>")
    named = (("model", model), ("oracle", oracle), ("baseline", baseline))
    label = ", ".join(f"{n} {v:.3f}" for n, v in named if v is not None)
    tick = f"font-size='9' text-anchor='middle' fill='{_COLOURS['muted']}'"
    return (f"<svg width='{width}' height='30' role='img' aria-label='AUC on a scale from 0.5 to 1: {label}'>"
            f"<line x1='{left}' y1='{y}' x2='{right}' y2='{y}' stroke='#999'/>"
            f"<text x='{left}' y='29' {tick}>0.5</text><text x='{right}' y='29' {tick}>1.0</text>"
            f"{''.join(marks)}</svg>")


def _budget_cell(check: BudgetCheck, quick: bool) -> str:
    mode = "quick, CPU" if quick else "full, GPU"
    if not check.declared:
        text = f"{_seconds(check.seconds)} <span class='muted'>(no {mode} budget declared)</span>"
    else:
        mark = " ⚠" if check.over_time else ""
        text = (f"{_seconds(check.seconds)} of {_seconds(check.budget_s)}{mark} "
                f"<span class='muted'>({mode})</span>")
    if check.gpu_budget_gb is not None or check.gpu_memory_gb is not None:
        peak = f"{check.gpu_memory_gb:.2f} GiB" if check.gpu_memory_gb is not None else "not recorded"
        allowed = f" of {check.gpu_budget_gb:g} GiB" if check.gpu_budget_gb is not None else ""
        text += f"<br>GPU memory {peak}{allowed}{' ⚠' if check.over_memory else ''}"
    return text


def _link(result, out_dir: Path) -> str:
    name = html.escape(result.notebook)
    if not result.output:
        return name
    href = Path(os.path.relpath(Path(result.output).resolve(), out_dir.resolve())).as_posix()
    return f"<a href='{html.escape(href, quote=True)}'>{name}</a>"


def _section(summary, out_dir: Path, index: int | None) -> tuple[str, dict[str, int]]:
    counts = {"passed": 0, "failed": 0, "over budget": 0, "no budget": 0}
    rows = []
    for r in summary.results:
        check = check_budget(r, quick=summary.quick)
        status = status_of(r, quick=summary.quick)
        counts[status] += 1
        counts["no budget"] += not check.declared
        colour = _COLOURS[status]
        if r.ok:
            metrics = {k: v for k, v in r.metrics.items()}
            detail = _auc_cell(metrics) + "<br>".join(
                f"{html.escape(k)} = {html.escape(_fmt(v))}" for k, v in metrics.items())
        else:
            detail = f"<span class='reason'>{html.escape(r.reason())}</span>"
        device = html.escape(r.device or "-")
        if r.gpu_peak_memory_gb is not None:
            device += f"<br><span class='muted'>peak {r.gpu_peak_memory_gb:.2f} GiB</span>"
        rows.append(
            f"<tr class='{status.replace(' ', '-')}'><td>{_link(r, out_dir)}</td>"
            f"<td style='color:{colour}'><strong>{_SYMBOLS[status]} {status}</strong></td>"
            f"<td>{_budget_cell(check, summary.quick)}</td><td>{device}</td><td>{detail}</td></tr>"
        )
    title = f"Part {index}: " if index is not None else ""
    commit = summary.commit or "unknown (not a git checkout)"
    stamp = (
        f"<dl class='stamp'><dt>commit</dt><dd><code>{html.escape(commit)}</code></dd>"
        f"<dt>date</dt><dd>{html.escape(summary.started)}</dd>"
        f"<dt>device</dt><dd>{html.escape(summary.device)}; "
        f"{html.escape(summary.machine or 'machine not recorded')}</dd>"
        f"<dt>mode</dt><dd>{'quick (small sizes, CPU budget)' if summary.quick else 'full (GPU budget)'}</dd>"
        f"<dt>run folder</dt><dd>{html.escape(summary.out_dir)}</dd></dl>"
    )
    line = (f"{counts['passed'] + counts['over budget']} passed, {counts['failed']} failed, "
            f"{counts['over budget']} over budget")
    if counts["no budget"]:
        line += f", {counts['no budget']} without a declared budget"
    name = html.escape(_part_name(summary, index is not None))
    body = f"""<section><h2>{title}{name}</h2>{stamp}<p class='counts'>{line}</p>
<table><caption>Each notebook with its status, time against its declared budget, device, and the results it
recorded. AUCs are drawn on a 0.5 to 1 scale: circle = model, diamond = oracle (the best any model could
reach on this data), square = naive baseline.</caption>
<thead><tr><th scope='col'>notebook</th><th scope='col'>status</th><th scope='col'>time / budget</th>
<th scope='col'>device</th><th scope='col'>recorded results</th></tr></thead>
<tbody>{''.join(rows)}</tbody></table></section>"""
    return body, counts


def _part_name(summary, merged: bool) -> str:
    """The folders the run covered (course, solutions...); in a merged report, led by the run folder's name
    (a track's runs are kept in folders named after the track)."""
    folders = sorted({str(Path(r.notebook).parent) for r in summary.results})
    if len(folders) == 1 and folders[0] != ".":
        covered = folders[0]
    else:
        covered = ", ".join(sorted({Path(r.notebook).parts[0] for r in summary.results
                                    if len(Path(r.notebook).parts) > 1}))
    if not merged:
        return covered or Path(summary.out_dir).name
    name = Path(summary.out_dir).name
    return f"{name} ({covered})" if covered and covered != name else name


_CSS = """body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:78em;margin:2em auto;
padding:0 1em;line-height:1.45;color:#000;background:#fff}table{border-collapse:collapse;width:100%;
margin-bottom:2em}caption{text-align:left;color:#555;padding:.4em 0}td,th{border-bottom:1px solid #ccc;
padding:.45em;text-align:left;vertical-align:top}th{background:#f2f2f2}td:nth-child(2){white-space:nowrap}
tr.failed td:first-child{border-left:4px solid #D55E00}
tr.over-budget td:first-child{border-left:4px dashed #E69F00}
tr.passed td:first-child{border-left:4px solid #0072B2}
.muted{color:#555}.reason{color:#D55E00;font-weight:bold}.auc{display:flex;gap:.6em;align-items:center;
margin-bottom:.3em}dl.stamp{display:grid;grid-template-columns:max-content auto;gap:.1em 1em;margin:.5em 0}
dl.stamp dt{font-weight:bold}dl.stamp dd{margin:0}code{font-size:.95em}.counts{font-size:1.1em}
a{color:#0072B2}"""


def render_report(summaries: list, path: str | os.PathLike, *, title: str | None = None) -> Path:
    """Write one HTML page for one or several runs (one section per run) and return its path.

    Parameters
    ----------
    summaries : list of RunSummary
        Runs to show, in order; each section is stamped with its commit, date and device.
    path : path
        The HTML file to write; links to executed notebooks are relative to its folder.
    title : str, optional
        Page heading (default: "Notebook run <date>" for one run, "Course report" for several).
    """
    if not summaries:
        raise MedaiInputError("no run to report on: pass at least one run summary.")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    multi = len(summaries) > 1
    sections, totals = [], {"passed": 0, "failed": 0, "over budget": 0, "no budget": 0}
    for i, summary in enumerate(summaries, start=1):
        body, counts = _section(summary, out.parent, i if multi else None)
        sections.append(body)
        for key in totals:
            totals[key] += counts[key]
    heading = title or ("Course report" if multi else f"Notebook run {summaries[0].started}")
    made = datetime.now(timezone.utc).isoformat(timespec="seconds")
    overall = (f"{totals['passed'] + totals['over budget']} passed, {totals['failed']} failed, "
               f"{totals['over budget']} over budget")
    if multi:
        overall += f" in {len(summaries)} runs"
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(heading)}</title>
<style>{_CSS}</style></head><body><h1>{html.escape(heading)}</h1>
<p class='counts'><strong>{overall}</strong>. Written {made}. Status reads
<span style='color:{_COLOURS["passed"]}'>✔ passed</span>,
<span style='color:{_COLOURS["failed"]}'>✘ failed</span>,
<span style='color:{_COLOURS["over budget"]}'>⚠ over budget</span> (ran, but slower or larger than the
notebook declares). Executed notebooks may hold patient data when a run used real data: share this page
with care.</p>
{''.join(sections)}</body></html>"""
    out.write_text(page, encoding="utf-8")
    return out


def write_report(summary, path: str | os.PathLike | None = None) -> Path:
    """Write ``report.html`` beside the run's summary (or to ``path``) and return its path.

    Examples
    --------
    >>> from medai_lib.course.runner import run_notebooks  # doctest: +SKIP
    >>> write_report(run_notebooks(["course"], quick=True))  # doctest: +SKIP
    PosixPath('.../report.html')
    """
    out = Path(path) if path else Path(summary.out_dir) / "report.html"
    return render_report([summary], out)


def merge_reports(run_dirs: list[str | os.PathLike], out_dir: str | os.PathLike, *,
                  title: str = "Course report") -> Path:
    """Combine several runs (their ``--out`` folders) into one report in ``out_dir``.

    Writes ``out_dir/report.html`` (one section per run, stamped with commit, date and device, links
    relative to ``out_dir``) and ``out_dir/merged.json`` (the runs' summaries), and returns the page's path.

    Raises
    ------
    MedaiInputError
        No run folder given, or a folder without a run summary.
    """
    if not run_dirs:
        raise MedaiInputError(
            "no run folder given: pass the --out folders of `medai run`, e.g. runs/fibrosis."
        )
    summaries = [load_run(d) for d in run_dirs]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    merged = {"title": title, "parts": [s.to_json() for s in summaries]}
    (out / "merged.json").write_text(json.dumps(merged, indent=2, default=str))
    return render_report(summaries, out / "report.html", title=title)
