"""A readable HTML page for one notebook run: status, time, device and recorded metrics per notebook,
linked to the executed copies; notebooks over their declared quick-mode budget are flagged."""
from __future__ import annotations

import html
import json
from pathlib import Path

# Okabe-Ito: blue for passed, vermillion for failed, orange for over budget (never red versus green alone).
_COLOURS = {"ok": "#0072B2", "failed": "#D55E00", "over": "#E69F00"}


def _budget(result) -> float | None:
    output = result.output
    if not output or not Path(output).exists():
        return None
    meta = json.loads(Path(output).read_text()).get("metadata", {})
    return (meta.get("medai", {}).get("budget") or {}).get("quick_cpu_s")


def write_report(summary, path: str | Path | None = None) -> Path:
    """Write ``report.html`` beside the run's summary and return its path."""
    out = Path(path) if path else Path(summary.out_dir) / "report.html"
    rows = []
    for r in summary.results:
        budget = _budget(r) if summary.quick else None
        over = budget is not None and r.seconds > 1.5 * budget
        status = "failed" if not r.ok else ("over budget" if over else "passed")
        colour = _COLOURS["failed" if not r.ok else ("over" if over else "ok")]
        link = (f"<a href='{html.escape(Path(r.output).relative_to(out.parent).as_posix())}'>{html.escape(r.notebook)}</a>"
                if r.output and Path(r.output).is_relative_to(out.parent) else html.escape(r.notebook))
        metrics = "<br>".join(f"{html.escape(k)} = {html.escape(str(v))}" for k, v in r.metrics.items())
        detail = metrics if r.ok else html.escape(r.reason())
        rows.append(
            f"<tr><td>{link}</td><td style='color:{colour};font-weight:bold'>{'✔' if r.ok else '✘'} {status}</td>"
            f"<td>{r.seconds:.1f}" + (f" / {budget:g}" if budget else "") + f"</td><td>{html.escape(r.device or '-')}"
            f"</td><td>{detail}</td></tr>"
        )
    n_fail = sum(not r.ok for r in summary.results)
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>MedAI notebook run</title>
<style>body{{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;line-height:1.4}}
table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ccc;padding:.4em;text-align:left;vertical-align:top}}</style>
</head><body><h1>Notebook run {html.escape(summary.started)}</h1>
<p>{len(summary.results) - n_fail} passed, {n_fail} failed · quick mode: {summary.quick} · device: {html.escape(summary.device)}</p>
<table><caption>Each notebook with its status, seconds (and quick-mode budget), device and recorded results.</caption>
<tr><th>notebook</th><th>status</th><th>seconds</th><th>device</th><th>results</th></tr>
{''.join(rows)}</table></body></html>"""
    out.write_text(page)
    return out
