"""Class hub pieces that need no running hub: roster checks (odd names), the hub configuration JupyterHub
receives (roles, services, limits, proxy), per-role Jupyter settings, the course copy that never overwrites a
learner's file, the GPU sharing policy, nbgrader's submissions staged for `medai grade`."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from traitlets.config import Config

from conftest import ROOT
from medai_lib.course import hub
from medai_lib.course.hub_spawner import parse_bytes
from medai_lib.errors import MedaiInputError


def _roster(tmp_path, text: str) -> Path:
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_roster_reads_roles(tmp_path):
    people = hub.read_roster(_roster(tmp_path, "username,role\nhmueller,instructor\nanna.meyer,learner\nb-ok2,learner\n"))
    assert people == {"instructors": ["hmueller"], "learners": ["anna.meyer", "b-ok2"]}


@pytest.mark.parametrize("name", ["Anna Müller", "anna_meyer", "../etc", "root", "9lives", "a", "x" * 40,
                                  "anna..meyer", "-rf", "ANNA"])
def test_odd_roster_names_are_refused_with_their_line(tmp_path, name):
    path = _roster(tmp_path, f"username,role\nhmueller,instructor\n{name},learner\n")
    with pytest.raises(MedaiInputError) as err:
        hub.read_roster(path)
    msg = str(err.value)
    assert "line 3" in msg and repr(name) in msg and str(path) in msg


def test_roster_duplicates_roles_and_columns(tmp_path):
    with pytest.raises(MedaiInputError, match="listed again"):
        hub.read_roster(_roster(tmp_path, "username,role\nhm,instructor\nanna,learner\nanna,learner\n"))
    with pytest.raises(MedaiInputError, match="neither 'instructor' nor 'learner'"):
        hub.read_roster(_roster(tmp_path, "username,role\nhm,instructor\nanna,student\n"))
    with pytest.raises(MedaiInputError, match="columns username,role"):
        hub.read_roster(_roster(tmp_path, "name,group\nanna,learner\n"))
    with pytest.raises(MedaiInputError, match="no instructor"):
        hub.read_roster(_roster(tmp_path, "username,role\nanna,learner\n"))


def test_check_roster_command(tmp_path, capsys):
    from medai_lib.course.cli import main

    ok = _roster(tmp_path, "username,role\nhm,instructor\nanna,learner\n")
    assert main(["hub", "check-roster", str(ok)]) == 0
    assert "1 instructor(s), 1 learner(s)" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("username,role\nhm,instructor\nAnna Müller,learner\n")
    assert main(["hub", "check-roster", str(bad)]) == 2
    assert "line 3" in capsys.readouterr().err


def _settings(tmp_path, **kw) -> hub.HubSettings:
    proxy = tmp_path / "chp"
    proxy.write_text("#!/bin/sh\n")
    base = dict(state_dir=str(tmp_path / "state"), course_root=str(tmp_path / "course"),
                course_notebooks=str(ROOT / "course"), exchange_root=str(tmp_path / "exchange"),
                instructors=["hm"], learners=["anna", "ben"], admins=["hubadmin"], proxy_command=str(proxy))
    base.update(kw)
    return hub.HubSettings(**base)


def test_configure_sets_roles_limits_services_and_proxy(tmp_path):
    c = Config()
    s = _settings(tmp_path, mem_limit="1536M", cpu_limit=0.5)
    hub.configure(c, s)
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["user"]["scopes"] == ["self"]
    assert roles["instructor"]["groups"] == ["instructors"]
    assert all(sc == "self" or sc.endswith("!group=learners") for sc in roles["instructor"]["scopes"])
    assert not any(sc.startswith(("access:servers", "admin")) for sc in roles["instructor"]["scopes"])
    assert set(roles["idle-culler"]["scopes"]) == {"list:users", "read:users:activity", "read:servers",
                                                   "delete:servers"}
    culler = c.JupyterHub.services[0]
    assert culler["name"] == "idle-culler" and "jupyterhub_idle_culler" in culler["command"]
    assert f"--timeout={s.cull_timeout}" in culler["command"]
    assert c.JupyterHub.load_groups["instructors"]["users"] == ["hm"]
    assert c.JupyterHub.load_groups["learners"]["users"] == ["anna", "ben"]
    assert c.Authenticator.admin_users == {"hubadmin"}
    assert c.JupyterHub.authenticator_class == "jupyterhub.auth.PAMAuthenticator"
    assert c.JupyterHub.spawner_class == "medai_lib.course.hub_spawner.MedaiSpawner"
    assert parse_bytes(c.Spawner.mem_limit) == 1536 << 20 and c.Spawner.cpu_limit == 0.5
    assert c.ConfigurableHTTPProxy.command == [s.proxy_command]
    assert c.JupyterHub.bind_url.startswith("http://127.0.0.1:")
    assert oct(os.stat(tmp_path / "state" / "proxy_token").st_mode & 0o777) == "0o600"


def test_settings_refuse_unsafe_or_incomplete(tmp_path):
    with pytest.raises(MedaiInputError, match="admins must not be learners"):
        _settings(tmp_path, admins=["anna"]).validate()
    with pytest.raises(MedaiInputError, match="both instructor and learner"):
        _settings(tmp_path, instructors=["anna"]).validate()
    with pytest.raises(MedaiInputError, match="make hub-deps"):
        _settings(tmp_path, proxy_command=str(tmp_path / "missing")).validate()


def test_settings_file_with_roster(tmp_path):
    _roster(tmp_path, "username,role\nhm,instructor\nanna,learner\n")
    s = _settings(tmp_path)
    data = {k: v for k, v in json.loads(json.dumps(s.__dict__)).items() if k not in ("instructors", "learners")}
    (tmp_path / "hub.json").write_text(json.dumps({**data, "roster": "roster.csv"}))
    loaded = hub.HubSettings.from_file(tmp_path / "hub.json")
    assert loaded.instructors == ["hm"] and loaded.learners == ["anna"]
    (tmp_path / "bad.json").write_text(json.dumps({**data, "memory": "2G"}))
    with pytest.raises(MedaiInputError, match="unknown key"):
        hub.HubSettings.from_file(tmp_path / "bad.json")


def test_example_settings_name_only_known_keys():
    data = json.loads((ROOT / "deploy" / "hub-settings.example.json").read_text())
    assert set(data) - {"roster", "comment"} <= set(hub.HubSettings.__dataclass_fields__)
    assert hub.read_roster(ROOT / "deploy" / "roster.example.csv")["instructors"]


def test_role_configs_turn_formgrader_off_for_learners_only(tmp_path):
    s = _settings(tmp_path)
    dirs = hub.write_role_configs(s)
    learner = json.loads((dirs["learner"] / "jupyter_server_config.json").read_text())
    teacher = json.loads((dirs["instructor"] / "jupyter_server_config.json").read_text())
    assert learner["ServerApp"]["jpserver_extensions"]["nbgrader.server_extensions.formgrader"] is False
    assert teacher["ServerApp"]["jpserver_extensions"] == {}
    page = json.loads((dirs["learner"] / "labconfig" / "page_config.json").read_text())
    assert page["disabledExtensions"]["@jupyter/nbgrader:formgrader"] is True
    # nbgrader reads its exchange and course id (and, for instructors, the course root) from these folders.
    from traitlets.config.loader import PyFileConfigLoader

    for role in ("learner", "instructor"):
        cfg = PyFileConfigLoader("nbgrader_config.py", path=str(dirs[role])).load_config()
        assert cfg.Exchange.root == s.exchange_root
        assert cfg.CourseDirectory.course_id == hub.COURSE_ID
        assert ("root" in cfg.CourseDirectory) == (role == "instructor")
    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(dirs["instructor"])).load_config()
    assert cfg.CourseDirectory.root == os.path.expanduser(f"~/{hub.INSTRUCTOR_LINK}")


def test_instructor_link_points_at_the_course_folder(tmp_path):
    home, course, other = tmp_path / "home", tmp_path / "course", tmp_path / "old"
    home.mkdir(), course.mkdir(), other.mkdir()
    link = hub.link_course(home, course, os.getuid(), os.getgid())
    assert link.resolve() == course.resolve()
    link.unlink()
    link.symlink_to(other)
    assert hub.link_course(home, course, os.getuid(), os.getgid()).resolve() == course.resolve()
    link.unlink()
    link.mkdir()  # an instructor's own folder of that name is never replaced
    assert hub.link_course(home, course, os.getuid(), os.getgid()).is_dir() and not link.is_symlink()


def test_course_copy_never_overwrites_a_learners_file(tmp_path):
    src = tmp_path / "src"
    (src / "01").mkdir(parents=True)
    (src / "01" / "a.ipynb").write_text("course v1")
    (src / "README.md").write_text("readme")
    (src / ".ipynb_checkpoints").mkdir()
    (src / ".ipynb_checkpoints" / "x.ipynb").write_text("no")
    home = tmp_path / "home"
    home.mkdir()
    uid, gid = os.getuid(), os.getgid()
    new = hub.copy_course(src, home, uid, gid)
    assert sorted(p.relative_to(home).as_posix() for p in new) == ["medai-course/01/a.ipynb", "medai-course/README.md"]
    (home / "medai-course" / "01" / "a.ipynb").write_text("my answers")
    (home / "medai-course" / "README.md").unlink()
    (src / "01" / "a.ipynb").write_text("course v2")
    (src / "01" / "b.ipynb").write_text("new lesson")
    new = hub.copy_course(src, home, uid, gid)
    assert (home / "medai-course" / "01" / "a.ipynb").read_text() == "my answers"
    assert sorted(p.name for p in new) == ["README.md", "b.ipynb"]


def test_gpu_policy_caps_learners_per_gpu_and_says_what_to_do():
    slots = hub.GpuSlots(gpu_count=2, kernels_per_gpu=2)
    envs = [slots.take(f"l{i}") for i in range(4)]
    assert sorted(e["CUDA_VISIBLE_DEVICES"] for e in envs) == ["0", "0", "1", "1"]
    assert all(float(e["MEDAI_GPU_MEMORY_FRACTION"]) == pytest.approx(0.5, abs=1e-3) for e in envs)
    assert slots.take("l1") == envs[1]  # a restart keeps the learner's GPU
    with pytest.raises(MedaiInputError, match="all 4 GPU places are taken.*CPU profile"):
        slots.take("l5")
    slots.release("l2")
    assert slots.take("l5")["CUDA_VISIBLE_DEVICES"] == envs[2]["CUDA_VISIBLE_DEVICES"]


def test_submissions_staged_for_medai_grade(tmp_path):
    from medai_lib.course.grading import collect_submissions

    lab = "lab00_clinical_values"
    for student, stamp in (("anna.meyer", "2026-12-06 15:30:12.123456 UTC"), ("b-ok2", "2026-12-06 16:01:00 UTC")):
        sub = tmp_path / "submitted" / student / lab
        sub.mkdir(parents=True)
        (sub / "timestamp.txt").write_text(stamp)
        (sub / f"{lab}.ipynb").write_text((ROOT / "labs" / lab / f"{lab}.ipynb").read_text())
    staged = tmp_path / "staged"
    assert hub.stage_submissions(tmp_path, lab, staged) == ["anna.meyer", "b-ok2"]
    subs, attention = collect_submissions(staged, notebooks=[f"{lab}.ipynb"])
    assert [(s.student_id, s.timestamp) for s in subs] == [("anna.meyer", "20261206T153012"), ("b-ok2", "20261206T160100")]
    assert not attention
    bad = tmp_path / "submitted" / "Odd_Name" / lab
    bad.mkdir(parents=True)
    (bad / "timestamp.txt").write_text("2026-12-06 16:01:00 UTC")
    with pytest.raises(MedaiInputError, match="Odd_Name"):
        hub.stage_submissions(tmp_path, lab, tmp_path / "staged2")


@pytest.mark.parametrize("text,expected", [("2G", 2 << 30), ("512M", 512 << 20), ("1.5G", 3 << 29), (1024, 1024)])
def test_parse_bytes(text, expected):
    assert parse_bytes(text) == expected
