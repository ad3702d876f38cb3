"""The course as a learner meets it, in a real headless browser: `make lab`'s JupyterLab server, the course
index, a lesson run on the project kernel (a figure, a widget that reacts), a lab started in a JupyterLab
terminal, answered, saved and submitted. Screenshots of every step go to test-artifacts/browser/."""
from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
import pytest

from browser_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Steps,
    active_notebook,
    click_menu,
    copy_course,
    start_lab_server,
    wait_all_cells_run,
    wait_kernel_idle,
)
from conftest import ROOT

LESSON = "02_python_and_pandas_for_clinicians.ipynb"
LAB = "lab00_clinical_values"
ANSWER_MARK = "answered-in-the-browser"
ANSWER = f"def bmi(weight_kg, height_m):\n    # {ANSWER_MARK}\n    return weight_kg / height_m ** 2\n"
ARTIFACTS = ROOT / "test-artifacts" / "browser"

pytestmark = [
    pytest.mark.server,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no browser at {CHROMIUM}: install Debian's chromium "
                       "(apt-get install chromium) to run the browser test"),
]


def _wait_for(predicate, what: str, timeout: float = 30.0):
    """Poll a condition on the server's files (saving and terminal commands finish asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _executed(path: Path):
    """The saved notebook once it holds outputs (None before the save lands)."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # half-written while saving
        return None
    return nb if any(c.get("outputs") for c in nb.cells if c.cell_type == "code") else None


def _answer_cell(path: Path):
    nb = nbformat.read(path, as_version=4)
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "bmi_answer")


def _saved_answer(path: Path) -> str:
    """The answer cell's source as saved ("" while the file is being written)."""
    try:
        return _answer_cell(path).source
    except Exception:
        return ""


def _open_in_file_browser(page, *names: str) -> None:
    """Double-click folders and then a file in the file browser on the left, as a learner does."""
    for name in names:
        item = page.locator(".jp-DirListing-item", has=page.locator(
            ".jp-DirListing-itemText", has_text=re.compile(rf"^{re.escape(name)}$")))
        item.dblclick()


def _scroll_into_view(locator, timeout: float = 30.0) -> None:
    """Scroll until ``locator`` is in the viewport. On a busy machine the notebook is still laying out
    outputs above it (images decoding, widgets rendering) and moves it away again after one scroll."""
    from playwright.sync_api import expect

    deadline = time.monotonic() + timeout
    while True:
        locator.scroll_into_view_if_needed()
        try:
            expect(locator).to_be_in_viewport(timeout=2_000)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise


def _run_in_terminal(page, command: str) -> None:
    page.locator(".jp-Terminal:not(.lm-mod-hidden) .xterm").last.click()
    page.keyboard.type(command)
    page.keyboard.press("Enter")


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    root = copy_course(ROOT, tmp_path_factory.mktemp("course-copy"))
    server = start_lab_server(root, tmp_path_factory.mktemp("jupyter-dirs"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def page(lab_server):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


def test_a_learner_runs_a_lesson_and_submits_a_lab(lab_server, page):
    from playwright.sync_api import expect

    from medai_lib.data import load_clinical_table
    from medai_lib.plotting import caption_of, plot_distribution_by_group

    steps = Steps(page, ARTIFACTS)
    root = lab_server.root
    try:
        # 1. The link the server prints opens the course index, rendered, with the course folder in the file
        #    browser (no Launcher, no developer tree, no nbgrader menu).
        link = _wait_for(lambda: re.search(r"http://127\.0\.0\.1:\d+(/lab/\S*?)\?token=", lab_server.log_tail(20_000)),
                         "the server to print its link")
        page.goto(f"{lab_server.base}{link.group(1)}?token={lab_server.token}")
        index = page.locator(".jp-RenderedMarkdown:visible").last
        index.locator("h1", has_text="MedAI course").wait_for(timeout=60_000)
        expect(page.locator(".jp-BreadCrumbs")).to_contain_text("course")
        expect(page.locator(".jp-DirListing-itemText", has_text=re.compile("^README.md$"))).to_be_visible()
        expect(page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text="Nbgrader")).to_have_count(0)
        expect(page.locator(".jp-Launcher")).to_have_count(0)
        steps.shot("course_index")

        # 2. A link in the index opens the lesson on the project kernel; Run > Run All Cells runs it.
        index.locator("a", has_text=LESSON).first.click()
        notebook = active_notebook(page)
        notebook.locator(".jp-Cell").first.wait_for()
        wait_kernel_idle(page, lab_server, LESSON)
        expect(notebook.locator(".jp-KernelName")).to_contain_text("MedAI (Python 3)")
        click_menu(page, "Run", "Run All Cells")
        wait_all_cells_run(page)
        wait_kernel_idle(page, lab_server, LESSON)
        steps.shot("lesson_run_all")
        # Saved, the lesson shows what ran: every code cell executed, no error, a figure among the outputs.
        page.keyboard.press("ControlOrMeta+s")
        lesson = root / "course" / "00_orientation" / LESSON
        ran = _wait_for(lambda: _executed(lesson), "the lesson to be saved with its outputs")
        errors = [o for c in ran.cells for o in c.get("outputs", []) if o.output_type == "error"]
        assert not errors, f"the lesson failed in the browser: {errors[0].ename}: {errors[0].evalue}"
        assert all(c.execution_count for c in ran.cells if c.cell_type == "code")
        assert any("image/png" in o.get("data", {}) for c in ran.cells for o in c.get("outputs", []))
        figure = notebook.locator(".jp-OutputArea-output[data-mime-type='image/png'] img").first
        figure.wait_for()
        assert figure.evaluate("img => img.naturalWidth") > 100, "the figure output is not a drawn image"
        _scroll_into_view(figure)
        steps.shot("lesson_figure")

        # 3. The distribution explorer reacts to its controls, and shows what the library computes.
        explorer = notebook.locator(".jp-OutputArea-output .widget-vbox").last
        explorer.scroll_into_view_if_needed()
        caption = explorer.locator(".widget-html-content")
        image = explorer.locator(".widget-image")
        expect(caption).to_have_text(re.compile(r"^\s*Histograms of egfr by clinic"))
        expect(image).to_be_visible()
        first_src = image.get_attribute("src")
        steps.shot("explorer_start")
        patients = load_clinical_table(None, n_patients=400, random_state=0)  # the lesson's defaults
        explorer.locator(".widget-dropdown", has_text="Variable").locator("select").select_option("age")
        expected = caption_of(plot_distribution_by_group(patients, "age", "clinic", kind="hist"))
        expect(caption).to_have_text(expected)
        assert image.get_attribute("src") != first_src, "the explorer's picture did not change"
        steps.shot("explorer_variable_age")
        explorer.locator(".widget-toggle-button", has_text="Box plot").click()
        expected_box = caption_of(plot_distribution_by_group(patients, "age", "clinic", kind="box"))
        assert expected_box != expected
        expect(caption).to_have_text(expected_box)
        steps.shot("explorer_box_plot")

        # 4. A JupyterLab terminal starts the lab, as the index tells learners to.
        click_menu(page, "File", "New")
        page.locator(".lm-Menu-content .lm-Menu-itemLabel", has_text=re.compile("^Terminal$")).click()
        page.locator(".jp-Terminal .xterm").last.wait_for()
        # Keys typed before the shell's prompt appears are queued by the terminal connection and the PTY.
        _run_in_terminal(page, "medai lab start lab00")
        lab_copy = root / "work" / LAB / f"{LAB}.ipynb"
        _wait_for(lab_copy.exists, f"`medai lab start lab00` to write {lab_copy}", timeout=60)
        steps.shot("terminal_lab_started")

        # 5. Open the learner's copy from the file browser, answer the first task, run it with its test, save.
        page.locator(".jp-BreadCrumbs-home").click()
        _open_in_file_browser(page, "work", LAB, f"{LAB}.ipynb")
        notebook = active_notebook(page)
        page.wait_for_function("() => document.title.includes('lab00')")
        wait_kernel_idle(page, lab_server, f"{LAB}.ipynb")
        cells = notebook.locator(".jp-Cell")
        answer_index = notebook.evaluate("""panel => [...panel.querySelectorAll('.jp-Cell')].findIndex(
            cell => cell.classList.contains('jp-CodeCell')
                    && cell.innerText.includes('raise NotImplementedError'))""")
        assert answer_index > 1, "no answer cell (raise NotImplementedError) found in the lab"
        editor = cells.nth(answer_index).locator(".cm-content")
        editor.click()
        page.keyboard.press("ControlOrMeta+a")
        page.keyboard.insert_text(ANSWER)
        page.keyboard.press("Escape")
        steps.shot("lab_answer_typed")
        # Run from the parameters cell down to the answer's visible test, one Shift+Enter per cell.
        cells.nth(1).locator(".jp-InputPrompt").click()
        for _ in range(answer_index + 1):  # cells 1 .. answer_index + 1
            page.keyboard.press("Shift+Enter")
        test_output = cells.nth(answer_index + 1).locator(".jp-OutputArea")
        test_output.get_by_text("Task 1: visible test passed.").wait_for(timeout=60_000)
        steps.shot("lab_visible_test_passed")
        page.keyboard.press("ControlOrMeta+s")
        _wait_for(lambda: ANSWER_MARK in _saved_answer(lab_copy), "the saved notebook to hold the answer")
        steps.shot("lab_saved")
        saved = _answer_cell(lab_copy)
        assert "return weight_kg / height_m ** 2" in saved.source

        # 6. Submit from the terminal: the submitted file is the saved one, in nbgrader's zip_collect naming.
        page.locator(".lm-TabBar-tab", has_text="Terminal").first.click()
        # The visible tests run first; two tasks are still unanswered, so the learner insists with --force.
        _run_in_terminal(page, "medai lab submit lab00 --student learner-1 --force")
        submissions = root / "work" / "submissions"
        found = _wait_for(lambda: sorted(submissions.glob(f"{LAB}_learner-1_attempt_*_{LAB}.ipynb")),
                          "`medai lab submit lab00` to write the submission", timeout=60)
        steps.shot("terminal_lab_submitted")
        assert len(found) == 1
        assert re.fullmatch(rf"{LAB}_learner-1_attempt_\d{{8}}T\d{{6}}_{LAB}\.ipynb", found[0].name)
        submitted = _answer_cell(found[0])
        assert ANSWER_MARK in submitted.source and submitted.source == saved.source
    except Exception:
        steps.shot("failure")
        print(f"JupyterLab's log ends with:\n{lab_server.log_tail()}")  # shown by pytest on failure
        raise
