"""Zero to JupyterHub values checked offline: KubeSpawner's own code renders each profile's pod (no cluster).

The expected numbers are read from deploy/z2jh/values.yaml itself and converted independently (Kubernetes
quantities: 1G = 2**30 bytes in KubeSpawner's ByteSpecification), so the test follows the file and fails
when a profile stops carrying what the guide promises: limits and guarantees, one GPU for the GPU profile
only, the learner's home and the shared nbgrader exchange mounted, a per-user uid.
"""
from __future__ import annotations

import pytest

from conftest import ROOT

pytest.importorskip("kubespawner")
from medai_lib.course.hub_k8s import load_values, pod_manifest  # noqa: E402

VALUES = ROOT / "deploy" / "z2jh" / "values.yaml"
GiB = 1 << 30


def _bytes(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    return int(float(text[:-1]) * units[text[-1]])


@pytest.fixture(scope="module")
def values():
    return load_values(VALUES)


@pytest.fixture(scope="module")
def pods(values):
    out = {}
    for profile in values["singleuser"]["profileList"]:
        _, pod = pod_manifest(values, profile["slug"])
        out[profile["slug"]] = pod
    return out


def _expected(values, slug):
    su = values["singleuser"]
    exp = {"cpu_limit": su["cpu"]["limit"], "cpu_guarantee": su["cpu"]["guarantee"],
           "mem_limit": _bytes(su["memory"]["limit"]), "mem_guarantee": _bytes(su["memory"]["guarantee"])}
    over = next(p for p in su["profileList"] if p["slug"] == slug).get("kubespawner_override", {})
    for key in ("cpu_limit", "cpu_guarantee"):
        exp[key] = over.get(key, exp[key])
    for key in ("mem_limit", "mem_guarantee"):
        if key in over:
            exp[key] = _bytes(over[key])
    exp["gpu"] = over.get("extra_resource_limits", {}).get("nvidia.com/gpu")
    return exp


def test_profiles_are_cpu_and_gpu(values):
    assert [p["slug"] for p in values["singleuser"]["profileList"]] == ["cpu", "gpu"]


@pytest.mark.parametrize("slug", ["cpu", "gpu"])
def test_resources(values, pods, slug):
    res = pods[slug]["spec"]["containers"][0]["resources"]
    exp = _expected(values, slug)
    assert float(res["limits"]["cpu"]) == exp["cpu_limit"]
    assert float(res["requests"]["cpu"]) == exp["cpu_guarantee"]
    assert int(res["limits"]["memory"]) == exp["mem_limit"]
    assert int(res["requests"]["memory"]) == exp["mem_guarantee"]
    assert int(res["requests"]["memory"]) <= int(res["limits"]["memory"])


def test_gpu_limit_only_in_gpu_profile(pods):
    gpu, cpu = pods["gpu"]["spec"], pods["cpu"]["spec"]
    assert gpu["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "nvidia.com/gpu" not in cpu["containers"][0]["resources"]["limits"]
    assert gpu["nodeSelector"] == {"medai/gpu": "true"}
    assert any(t["key"] == "nvidia.com/gpu" for t in gpu["tolerations"])
    assert not any(t.get("key") == "nvidia.com/gpu" for t in cpu.get("tolerations", []))
    env = {e["name"]: e.get("value") for e in gpu["containers"][0]["env"]}
    assert env["MEDAI_DEVICE"] == "cuda" and 0 < float(env["MEDAI_GPU_MEMORY_FRACTION"]) <= 1


@pytest.mark.parametrize("slug", ["cpu", "gpu"])
def test_home_and_exchange_are_mounted(values, pods, slug):
    spec = pods[slug]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    home = mounts[values["singleuser"]["storage"]["homeMountPath"]]
    assert volumes[home]["persistentVolumeClaim"]["claimName"].startswith("claim-anna")
    exchange = mounts["/srv/nbgrader/exchange"]
    assert volumes[exchange]["persistentVolumeClaim"]["claimName"] == "medai-nbgrader-exchange"


def test_each_user_runs_under_their_own_uid(values):
    """Learners are separated on the shared exchange by file permissions, as on one server."""
    uids = set()
    for name, uid in (("anna.meyer", 7), ("ben.okafor", 8)):
        _, pod = pod_manifest(values, "cpu", user=name, user_id=uid)
        ctx = pod["spec"]["containers"][0]["securityContext"]
        assert ctx["runAsUser"] == 10000 + uid and ctx["allowPrivilegeEscalation"] is False
        uids.add(ctx["runAsUser"])
    assert len(uids) == 2


def test_culling_and_https_are_on(values):
    assert values["cull"]["enabled"] and 0 < values["cull"]["timeout"] <= 4 * 3600
    assert values["proxy"]["https"]["enabled"]
    assert "password" not in str(values["hub"]["config"]).lower()
