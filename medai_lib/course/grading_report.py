"""Grading outputs: the per-student and per-question tables, the learners' feedback pages and the class
report (score distribution per question, most common failures and misconceptions, attention list)."""
from __future__ import annotations

import base64
import html
import io
import re
from collections import Counter
from pathlib import Path

import pandas as pd

# Okabe-Ito: blue for points earned, vermillion for points lost (never red versus green alone).
BLUE, VERMILLION, ORANGE, GREY = "#0072B2", "#D55E00", "#E69F00", "#999999"
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;line-height:1.45;color:#222}"
    "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top}"
    f".pass{{color:{BLUE}}}.fail{{color:{VERMILLION}}}pre{{background:#f4f4f4;padding:.6em;white-space:pre-wrap}}"
)
_MISCONCEPTION = re.compile(r"common mistake: ([^.]+)\.", re.I)


def _row_totals(res: dict) -> tuple[float, float]:
    score = sum(t["score"] for e in res["notebooks"].values() for t in e["tests"].values())
    maximum = sum(t["max"] for e in res["notebooks"].values() for t in e["tests"].values())
    return score, maximum


def tables(lab: str, results: list[dict], attention: list[dict], roster: list[dict]):
    """(grades, questions, attention) DataFrames; see :class:`~medai_lib.course.grading.GradingSummary`."""
    people = {r["student_id"]: r for r in roster}
    by_student = {r["student_id"]: r for r in results}
    attention = [dict(a) for a in attention]
    q_rows, g_rows = [], []
    max_auto = max((_row_totals(r)[1] for r in results if r["notebooks"]), default=0.0)
    max_manual = max((sum(m["max"] for e in r["notebooks"].values() for m in e["manual"].values())
                      for r in results if r["notebooks"]), default=0.0)
    for sid in sorted(set(people) | set(by_student)):
        res = by_student.get(sid)
        person = people.get(sid, {})
        status = "graded"
        if res is None:
            status = "no submission"
            if not any(a["student_id"] == sid for a in attention):
                attention.append({"file": "", "student_id": sid, "reason": "on the roster but no submission"})
            score = 0.0
        else:
            score, _ = _row_totals(res)
            if roster and sid not in people:
                attention.append({"file": "", "student_id": sid, "reason": "not on the roster (graded anyway)"})
            for reason in res["reasons"]:
                attention.append({"file": "", "student_id": sid, "reason": reason})
            for finding in res["tampering"]:
                attention.append({"file": "", "student_id": sid,
                                  "reason": f"tampering detected, autograded points withheld: {finding}"})
            if res.get("sandbox"):
                attention.append({"file": "", "student_id": sid,
                                  "reason": "tried to leave the sandbox (blocked; for review): "
                                            + "; ".join(res["sandbox"][:8])})
            if res["notes"]:
                attention.append({"file": "", "student_id": sid,
                                  "reason": "graded cells restored: " + "; ".join(sorted(set(res["notes"])))})
            if res["review"] and not res["tampering"]:
                attention.append({"file": "", "student_id": sid,
                                  "reason": "for review, code touches test machinery: " + "; ".join(res["review"][:5])})
            if res["reasons"] or res["tampering"]:
                status = "attention"
            for nb_name, entry in res["notebooks"].items():
                for gid, test in entry["tests"].items():
                    q_rows.append({"student_id": sid, "notebook": nb_name, "grade_id": gid, "score": test["score"],
                                   "max_score": test["max"], "message": test["message"]})
        g_rows.append({"student_id": sid, "last_name": person.get("last_name", ""),
                       "first_name": person.get("first_name", ""), "email": person.get("email", ""), "lab": lab,
                       "score": score, "max_score": max_auto, "manual_max": max_manual,
                       "percent": round(100 * score / max_auto, 1) if max_auto else 0.0, "status": status})
    grades = pd.DataFrame(g_rows, columns=["student_id", "last_name", "first_name", "email", "lab", "score",
                                           "max_score", "manual_max", "percent", "status"])
    questions = pd.DataFrame(q_rows, columns=["student_id", "notebook", "grade_id", "score", "max_score", "message"])
    attention_df = pd.DataFrame(attention, columns=["student_id", "file", "reason"]).fillna("")
    return grades, questions, attention_df


def test_description(source: str) -> str:
    """What a test checks, in the words of its leading comment lines (``# Test: one patient (1 point)``)."""
    lines = []
    for line in source.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        lines.append(stripped.lstrip("#").strip())
    text = " ".join(x for x in lines if x)
    for prefix in ("Test:", "Hidden tests:", "Tests:"):
        if text.startswith(prefix):
            text = text[len(prefix):].strip()
    return text


_PLAIN = {
    "NameError": "the test uses a name your notebook does not define; run every cell above it, and check the "
                 "spelling of the function or variable",
    "TypeError": "the test could not use your answer in the expected way (wrong kind of value, or a function "
                 "called with arguments it does not accept)",
    "ZeroDivisionError": "your code divided by zero",
    "KeyError": "your code asked for a column or key that does not exist",
    "IndexError": "your code asked for an item past the end of a list or array",
    "ValueError": "your code received or produced a value it could not use",
    "ModuleNotFoundError": "your code imports a package that is not installed",
    "ImportError": "your code imports something that does not exist",
}


def plain_message(message: str) -> str:
    """A test's failure message for a learner: a check's own words as they are, other errors explained."""
    if not message:
        return ""
    ename, _, evalue = message.strip().partition(":")
    evalue = evalue.strip()
    if ename == "NotImplementedError" and not evalue:
        return "not answered yet: the answer cell still raises NotImplementedError"
    if ename in ("CheckFailed", "AssertionError"):
        return evalue or "the answer is not what the test expects"
    if ename in _PLAIN:
        return f"{_PLAIN[ename]} (Python said: {ename}: {evalue})"
    if ename.endswith("Error") or ename.endswith("Exception"):
        return f"your code stopped with an error before the test could check it (Python said: {message})"
    return message


def write_feedback(path: Path, lab: str, res: dict, masters: dict, *, show_hidden: bool = False) -> Path:
    """One learner's feedback page: per test, points and the failure message (their value and a hint).
    Hidden test code and tracebacks appear only with ``show_hidden``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    score, maximum = _row_totals(res)
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Feedback {html.escape(lab)}</title>"
             f"<style>{_STYLE}</style></head><body><h1>Feedback: {html.escape(lab)}</h1>",
             f"<p>Learner <b>{html.escape(res['student_id'])}</b>, attempt {html.escape(res['timestamp'])}. "
             f"Automatically graded: <b>{score:g} of {maximum:g}</b> points. Free-text answers are graded by your "
             "instructor.</p>"]
    for reason in res["reasons"]:
        parts.append(f"<p class='fail'>Note: {html.escape(reason)}.</p>")
    if res["tampering"]:
        parts.append("<p class='fail'>Your automatically graded points are withheld until your instructor has "
                     "looked at your notebook: the tests' helpers or the kernel were changed while grading.</p>")
    for nb_name, entry in res["notebooks"].items():
        master = masters[nb_name]
        parts.append("<table><tr><th>test</th><th>points</th><th>result</th></tr>")
        for gid, test in entry["tests"].items():
            ok = test["score"] >= test["max"] and test["max"] > 0
            mark = "<span class='pass'>passed</span>" if ok else "<span class='fail'>not passed</span>"
            message = html.escape(plain_message(test["message"])) if not ok else ""
            own = test.get("learner_run")
            if not ok and own == "passed" and not test.get("hidden"):
                message += ("<br><i>In your own notebook this test passed; the grader's fresh run of your whole "
                            "notebook, top to bottom, did not. A result that changes between runs usually depends on "
                            "the order the cells were run in, or on randomness without a fixed seed: restart the "
                            "kernel, run all cells, and check.</i>")
            elif not ok and own and own != "passed" and plain_message(own) != plain_message(test["message"]):
                message += f"<br><i>Your own run said: {html.escape(plain_message(own))}</i>"
            what = test_description(master["release"].get(gid, "") or master["nb_sources"].get(gid, ""))
            detail = f"<br>{html.escape(what)}" if what else ""
            if test.get("hidden") and not show_hidden:
                detail += "<p><i>This test includes hidden checks, run when your lab is graded.</i></p>"
            if show_hidden:  # the instructor's view: the test's code, hidden part included
                code = master["nb_sources"].get(gid, "")
                detail += f"<details><summary>test code</summary><pre>{html.escape(code)}</pre></details>"
            parts.append(f"<tr><td><b>{html.escape(gid)}</b>{detail}</td><td>{test['score']:g} / {test['max']:g}</td>"
                         f"<td>{mark}<br>{message}</td></tr>")
        parts.append("</table>")
        for gid, item in entry["manual"].items():
            parts.append(f"<h3>{html.escape(gid)} ({item['max']:g} points, graded by your instructor)</h3>"
                         f"<pre>{html.escape(item['answer'])}</pre>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def plot_question_scores(questions: pd.DataFrame, *, ax=None):
    """Stacked bars per question: share of learners with full points (blue) and not (vermillion, hatched)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.4 * max(3, questions["grade_id"].nunique()) + 1))
    full = (questions["score"] >= questions["max_score"]).groupby(questions["grade_id"], sort=False).mean()
    ax.barh(full.index, full.values, color=BLUE, label="full points")
    ax.barh(full.index, 1 - full.values, left=full.values, color=VERMILLION, hatch="//", label="points lost")
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of learners")
    ax.invert_yaxis()
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Score per question")
    return ax


def write_class_report(path: Path, lab: str, grades: pd.DataFrame, questions: pd.DataFrame,
                       attention: pd.DataFrame) -> Path:
    """The class report: totals histogram, per-question scores, common failures and misconceptions,
    attention list with reasons (HTML with embedded figures)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Class report {html.escape(lab)}"
             f"</title><style>{_STYLE}</style></head><body><h1>Class report: {html.escape(lab)}</h1>"]
    graded = grades[grades["status"] != "no submission"]
    parts.append(f"<p>{len(grades)} learners, {len(graded)} graded submissions; mean automatic score "
                 f"{graded['score'].mean() if len(graded) else 0:.2f} of {grades['max_score'].max() if len(grades) else 0:g}; "
                 f"{len(attention)} item(s) need attention.</p>")
    if len(questions):
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 0.35 * questions["grade_id"].nunique() + 2.5))
        ax1.hist(grades["score"], bins=min(20, max(5, len(grades))), color=BLUE, edgecolor="white")
        ax1.set_xlabel("automatic score")
        ax1.set_ylabel("learners")
        ax1.set_title("Distribution of total scores")
        plot_question_scores(questions, ax=ax2)
        fig.tight_layout()
        parts.append(f"<img alt='Histogram of total scores and, per question, the share of learners with full "
                     f"points' src='data:image/png;base64,{_png(fig)}'>")
        plt.close(fig)
        per_q = questions.groupby("grade_id", sort=False).agg(mean=("score", "mean"), max=("max_score", "max"),
                                                              full=("score", lambda s: 0))
        per_q["full"] = (questions["score"] >= questions["max_score"]).groupby(questions["grade_id"], sort=False).mean()
        parts.append("<h2>Score per question</h2><table><tr><th>question</th><th>mean points</th><th>max</th>"
                     "<th>share with full points</th></tr>")
        for gid, row in per_q.iterrows():
            parts.append(f"<tr><td>{html.escape(gid)}</td><td>{row['mean']:.2f}</td><td>{row['max']:g}</td>"
                         f"<td>{row['full']:.0%}</td></tr>")
        parts.append("</table>")
        failed = questions[(questions["score"] < questions["max_score"]) & (questions["message"] != "")]
        common = Counter(zip(failed["grade_id"], failed["message"].str.slice(0, 200))).most_common(10)
        parts.append("<h2>Most common failing tests</h2><table><tr><th>test</th><th>message</th><th>learners</th></tr>")
        for (gid, msg), n in common:
            parts.append(f"<tr><td>{html.escape(gid)}</td><td>{html.escape(msg)}</td><td>{n}</td></tr>")
        parts.append("</table>")
        miscon = Counter(m.group(1).strip() for msg in failed["message"] for m in [_MISCONCEPTION.search(msg)] if m)
        parts.append("<h2>Misconceptions recognised by the tests</h2><table><tr><th>misconception</th>"
                     "<th>learners</th></tr>")
        for name, n in miscon.most_common(10):
            parts.append(f"<tr><td>{html.escape(name)}</td><td>{n}</td></tr>")
        parts.append("</table>")
    parts.append("<h2>Needs attention</h2><table><tr><th>learner</th><th>file</th><th>reason</th></tr>")
    for row in attention.itertuples():
        parts.append(f"<tr><td>{html.escape(str(row.student_id))}</td><td>{html.escape(str(row.file))}</td>"
                     f"<td>{html.escape(str(row.reason))}</td></tr>")
    parts.append("</table></body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
