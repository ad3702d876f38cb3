"""Run inside a learner's kernel while grading: remember what the tests rely on before any learner code
runs, and before each test cell report and undo changes to it (monkeypatching of the check helpers, of
math/numpy/pandas, of builtins, or of IPython's input and error handling).

The grader inserts ``snapshot()`` as the first cell and ``check(nonce)`` before every test cell and at the
end; a missing or altered report is itself treated as tampering by the grader.
"""
from __future__ import annotations

import builtins
import json
import math
import sys

MARKER = "MEDAI-GUARD"
_WATCHED_MODULES = ("medai_lib.course.checks", "math", "builtins", "numpy", "pandas", "operator")
_WATCHED_CLASSES = (("numpy", "ndarray"), ("pandas", "Series"), ("pandas", "DataFrame"), ("builtins", "float"),
                    # IPython's error reporting, patched on the class rather than the instance
                    ("IPython.core.interactiveshell", "InteractiveShell"), ("ipykernel.zmqshell", "ZMQInteractiveShell"),
                    ("ipykernel.ipkernel", "IPythonKernel"), ("ipykernel.kernelbase", "Kernel"))
#: Replaced by the kernel itself on every execution (input forwarding).
_KERNEL_MANAGED = {("builtins", "input"), ("builtins", "raw_input"), ("getpass", "getpass")}
_state: dict = {}


def _ip():
    try:
        return get_ipython()  # noqa: F821 - defined in IPython kernels
    except NameError:
        return None


def _module_attrs() -> dict:
    attrs = {}
    for name in _WATCHED_MODULES:
        mod = sys.modules.get(name)
        if mod is not None:
            attrs[name] = dict(vars(mod))
    return attrs


def _codes() -> dict:
    codes = {}
    for name in _WATCHED_MODULES[:1]:
        mod = sys.modules.get(name)
        for key, value in (vars(mod) if mod else {}).items():
            if hasattr(value, "__code__") and getattr(value, "__module__", "") == name:
                codes[(name, key)] = (value, value.__code__, getattr(value, "__defaults__", None),
                                      getattr(value, "__kwdefaults__", None))
    return codes


def _class_attrs() -> dict:
    out = {}
    for mod_name, cls_name in _WATCHED_CLASSES:
        mod = sys.modules.get(mod_name)
        cls = getattr(mod, cls_name, None) if mod else None
        if cls is not None:
            out[(mod_name, cls_name)] = (cls, dict(vars(cls)))
    return out


def _ipython_state() -> dict:
    ip = _ip()
    state = {"excepthook": sys.excepthook, "displayhook": sys.displayhook, "trace": sys.gettrace(),
             "profile": sys.getprofile(), "stdout": type(sys.stdout), "stderr": type(sys.stderr)}
    if ip is not None:
        state.update(
            cleanup=list(ip.input_transformers_cleanup), post=list(ip.input_transformers_post),
            ast=list(ip.ast_transformers), custom_exc=tuple(ip.custom_exceptions),
            showtraceback=ip.__dict__.get("showtraceback"), run_cell=ip.__dict__.get("run_cell"),
            events={k: list(v) for k, v in ip.events.callbacks.items()},
        )
    return state


def snapshot(helper_names: tuple[str, ...] = ("expect_close", "expect_equal", "expect_sequence")) -> None:
    """Remember the clean state (called before any learner code)."""
    import importlib

    for name in _WATCHED_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    _state.update(modules=_module_attrs(), codes=_codes(), classes=_class_attrs(), ipython=_ipython_state(),
                  helpers=helper_names, isclose=math.isclose, checks=0)
    import sys

    sys.audit("medai.arm")  # from here on the sandbox's audit hook reports what learner code tries to reach


def _diff_and_restore() -> list[str]:
    found: list[str] = []
    for name, saved in _state["modules"].items():
        mod = sys.modules.get(name)
        if mod is None or sys.modules[name] is not mod:
            continue
        current = vars(mod)
        for key, value in saved.items():
            if current.get(key, _state) is not value and not key.startswith("_") and (name, key) not in _KERNEL_MANAGED:
                found.append(f"{name}.{key} was replaced")
                setattr(mod, key, value)
    if sys.modules.get("medai_lib.course.checks") is None:
        found.append("the check helpers' module was removed from sys.modules")
    for (mod_name, key), (func, code, defaults, kwdefaults) in _state["codes"].items():
        if func.__code__ is not code or func.__defaults__ is not defaults or func.__kwdefaults__ is not kwdefaults:
            found.append(f"the code of {mod_name}.{key} was replaced")
            func.__code__, func.__defaults__, func.__kwdefaults__ = code, defaults, kwdefaults
    for (mod_name, cls_name), (cls, saved) in _state["classes"].items():
        current = dict(vars(cls))
        for key, value in saved.items():
            if current.get(key, _state) is not value and not key.startswith("__doc"):
                found.append(f"{mod_name}.{cls_name}.{key} was replaced")
                try:
                    setattr(cls, key, value)
                except (TypeError, AttributeError):
                    pass
        for key in set(current) - set(saved):
            found.append(f"{mod_name}.{cls_name}.{key} was added")
            try:
                delattr(cls, key)
            except (TypeError, AttributeError):
                pass
    ip_saved = _state["ipython"]
    if sys.excepthook != ip_saved["excepthook"]:
        found.append("sys.excepthook was replaced")
        sys.excepthook = ip_saved["excepthook"]
    if sys.gettrace() is not ip_saved["trace"] or sys.getprofile() is not ip_saved["profile"]:
        found.append("a trace or profile function was installed")
        sys.settrace(ip_saved["trace"])
        sys.setprofile(ip_saved["profile"])
    if type(sys.stdout) is not ip_saved["stdout"] or type(sys.stderr) is not ip_saved["stderr"]:
        found.append("sys.stdout or sys.stderr was replaced")
    ip = _ip()
    if ip is not None and "cleanup" in ip_saved:
        for attr, key in (("input_transformers_cleanup", "cleanup"), ("input_transformers_post", "post"),
                          ("ast_transformers", "ast")):
            if list(getattr(ip, attr)) != ip_saved[key]:
                found.append(f"IPython {attr} was changed")
                getattr(ip, attr)[:] = ip_saved[key]
        if tuple(ip.custom_exceptions) != ip_saved["custom_exc"]:
            found.append("IPython's error handling was replaced (set_custom_exc)")
            ip.set_custom_exc((), None)
            ip.custom_exceptions = ip_saved["custom_exc"]
        for attr in ("showtraceback", "run_cell"):
            if ip.__dict__.get(attr) is not ip_saved[attr]:
                found.append(f"IPython {attr} was replaced")
                if ip_saved[attr] is None:
                    ip.__dict__.pop(attr, None)
                else:
                    ip.__dict__[attr] = ip_saved[attr]
        for event, callbacks in ip.events.callbacks.items():
            saved_callbacks = ip_saved["events"].get(event, [])
            added = [cb for cb in callbacks if cb not in saved_callbacks
                     and not getattr(cb, "__module__", "").startswith(("matplotlib", "ipykernel", "IPython"))]
            if added or any(cb not in callbacks for cb in saved_callbacks):
                found.append(f"an IPython '{event}' event callback was changed")
                callbacks[:] = [cb for cb in callbacks if cb not in added]
    if ip is not None:
        checks = sys.modules.get("medai_lib.course.checks")
        saved_checks = _state["modules"].get("medai_lib.course.checks", {})
        for name in _state["helpers"]:
            if name in ip.user_ns and name in saved_checks and ip.user_ns[name] is not saved_checks[name]:
                found.append(f"the test helper '{name}' was redefined")
                ip.user_ns[name] = saved_checks[name]
        if checks is not None:
            ip.user_ns.setdefault("CheckFailed", checks.CheckFailed)
    return sorted(set(found))


def check(nonce: str) -> None:
    """Print one report line (the grader reads it) and undo what was changed since the snapshot."""
    if not _state:
        found = ["the grading snapshot is missing"]
    else:
        try:
            found = _diff_and_restore()
        except Exception as exc:  # a broken environment is itself a finding
            found = [f"the grading guard failed: {type(exc).__name__}"]
        _state["checks"] += 1
    builtins.print(f"{MARKER} {nonce} {json.dumps(found)}", flush=True)
