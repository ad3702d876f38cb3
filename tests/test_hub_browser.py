"""A class on the hub as its people meet it, in a real headless browser.

A learner logs in on the hub's login page, waits for their server, opens nbgrader's Assignments tab from the
Nbgrader menu, fetches lab00 and submits it with the tab's Submit button. The instructor grades the
class from a terminal (`medai hub grade lab00`), logs in in another browser, opens formgrader and finds the
learner's submission there, graded, with its score. Screenshots of every step go to test-artifacts/hub-browser/.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from browser_helpers import CHROMIUM, CHROMIUM_ARGS, Steps
from conftest import ROOT, hub_test_marks

LAB = "lab00_clinical_values"
PREFIX = "mdbrw-"
ARTIFACTS = ROOT / "test-artifacts" / "hub-browser"

pytestmark = [
    *hub_test_marks("the hub browser test"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no browser at {CHROMIUM}: install Debian's chromium"),
]


@pytest.fixture(scope="module")
def hub():
    from medai_lib.course.hub import ThrowawayHub
    from medai_lib.course.hub_spawner import CgroupError, UserCgroups

    try:
        UserCgroups()
    except CgroupError as exc:
        pytest.skip(f"no enforceable cgroups on this host: {exc}")
    hub = ThrowawayHub(learners=1, prefix=PREFIX, mem_limit="1G", cpu_limit=1.0)
    try:
        hub.setup()
        hub.start()
        teach, course = hub.instructor_names[0], hub.settings.course_root
        medai = str(hub.settings.bin_dir / "medai")
        built = hub.as_user(teach, [medai, "course", "build", "lab00"], cwd=course)
        assert built.returncode == 0, built.stdout + built.stderr
        rel = hub.as_user(teach, [hub.settings.python, "-m", "nbgrader", "release_assignment", LAB], cwd=course)
        assert rel.returncode == 0, rel.stdout + rel.stderr
        yield hub
    except BaseException:
        print(hub.log_tail(60))
        raise
    finally:
        hub.stop()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _log_in(browser, hub, name: str):
    """A fresh browser profile (its own cookies) logged in through the hub's login form; returns its page once
    JupyterLab has loaded in the user's own server."""
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", hub.passwords[name])
    page.click("#login_submit")
    # The hub shows its spawn-pending page, then redirects to the server once it answers.
    page.wait_for_url(re.compile(rf"/user/{re.escape(name)}/lab"), timeout=360_000)
    page.wait_for_selector("#jp-MainMenu", timeout=180_000)
    return page


def _open_menu(page, menu: str, item: str) -> None:
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile(rf"^{re.escape(menu)}$")).click()
    page.locator(".lm-Menu-content .lm-Menu-itemLabel", has_text=re.compile(rf"^{re.escape(item)}$")).first.click()


def test_learner_fetches_and_submits_in_the_browser_and_the_instructor_sees_it_in_formgrader(hub, browser):
    from playwright.sync_api import expect

    learner, teach = hub.learner_names[0], hub.instructor_names[0]
    folder = ARTIFACTS
    t0 = time.monotonic()

    # -- the learner
    page = _log_in(browser, hub, learner)
    steps = Steps(page, folder / "learner")
    steps.shot("learner_logged_in")
    # What learners must not be offered: nbgrader's instructor tools.
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile(r"^Nbgrader$")).click()
    offered = page.locator(".lm-Menu-content .lm-Menu-itemLabel").all_inner_texts()
    page.keyboard.press("Escape")
    assert "Assignment List" in offered, offered
    assert not {"Formgrader", "Create assignment"} & set(offered), offered
    _open_menu(page, "Nbgrader", "Assignment List")
    released = page.locator("#released_assignments_list")
    expect(released).to_contain_text(LAB, timeout=60_000)
    steps.shot("assignments_tab_lab_released")
    released.get_by_role("button", name=re.compile(r"^Fetch$")).first.click()
    fetched = page.locator("#fetched_assignments_list")
    expect(fetched).to_contain_text(LAB, timeout=60_000)
    steps.shot("lab_fetched")
    home = Path(os.path.expanduser(f"~{learner}"))
    assert (home / LAB / f"{LAB}.ipynb").is_file(), sorted(p.name for p in home.iterdir())
    fetched.get_by_role("button", name=re.compile(r"^Submit$")).first.click()
    submitted = page.locator("#submitted_assignments_list")
    expect(submitted).to_contain_text(LAB, timeout=60_000)
    steps.shot("lab_submitted")
    inbound = Path(hub.settings.exchange_root) / "medai" / "inbound"
    mine = [p.name for p in inbound.iterdir() if p.name.startswith(f"{learner}+{LAB}+")]
    assert len(mine) == 1, sorted(p.name for p in inbound.iterdir())
    print(f"learner logged in, fetched and submitted: {time.monotonic() - t0:.0f} s")

    # -- the instructor grades from a terminal, then looks in formgrader
    graded = hub.as_user(teach, [str(hub.settings.bin_dir / "medai"), "hub", "grade", "lab00", "--jobs", "1"],
                         cwd=hub.settings.course_root, timeout=300)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    ipage = _log_in(browser, hub, teach)
    isteps = Steps(ipage, folder / "instructor")
    ipage.goto(f"{hub.url}/user/{teach}/formgrader/manage_assignments")
    row = ipage.locator("tr", has_text=LAB)
    expect(row).to_be_visible(timeout=60_000)
    isteps.shot("formgrader_assignments")
    cells = row.locator("td").all_inner_texts()
    assert "1" in [c.strip() for c in cells], cells  # the "# Submissions" column
    ipage.goto(f"{hub.url}/user/{teach}/formgrader/manage_submissions/{LAB}")
    row = ipage.locator("tr", has_text=learner)
    expect(row).to_be_visible(timeout=60_000)
    isteps.shot("formgrader_submission_of_the_learner")
    # Graded by the sandboxed grader, and shown so: a score, no "needs autograding" (whose Autograde button
    # would run the learner's code in the instructor's own account).
    text = row.inner_text()
    assert "needs autograding" not in text, text
    assert re.search(r"\b0(\.0+)? / \d+", text), text  # the unanswered lab scores 0 of its points
    # A learner's page for formgrader is refused: the server extension is off for learners.
    r = page.request.get(f"{hub.url}/user/{learner}/formgrader/manage_assignments")
    assert r.status == 404, r.status
    print(f"whole loop in the browser: {time.monotonic() - t0:.0f} s")
