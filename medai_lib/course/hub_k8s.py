"""Offline check of the Zero to JupyterHub values (deploy/z2jh/values.yaml): KubeSpawner's own code builds
each profile's pod manifest, no cluster needed.

The values' ``singleuser`` section is turned into KubeSpawner settings the way the z2jh chart's hub
configuration does for the keys used here (image, cpu, memory, storage, extra volumes, profileList,
extraEnv, lifecycleHooks, defaultUrl) and ``hub.extraConfig`` is executed on the same config object; then
``KubeSpawner.load_user_options`` applies the chosen profile and ``get_pod_manifest`` renders the pod.
"""
from __future__ import annotations

import asyncio
from pathlib import Path

from medai_lib.errors import MedaiInputError


def load_values(path: str | Path) -> dict:
    import yaml

    path = Path(path)
    try:
        return yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise MedaiInputError(f"z2jh values '{path}' cannot be read ({exc}).") from exc


def kubespawner_config(values: dict):
    """A traitlets Config for KubeSpawner from the chart values (the subset the course uses)."""
    from traitlets.config import Config

    su = values.get("singleuser", {})
    c = Config()
    k = c.KubeSpawner
    image = su.get("image", {})
    if image:
        k.image = f"{image['name']}:{image.get('tag', 'latest')}"
    for key, trait in (("guarantee", "cpu_guarantee"), ("limit", "cpu_limit")):
        if key in su.get("cpu", {}):
            setattr(k, trait, float(su["cpu"][key]))
    for key, trait in (("guarantee", "mem_guarantee"), ("limit", "mem_limit")):
        if key in su.get("memory", {}):
            setattr(k, trait, su["memory"][key])
    if su.get("defaultUrl"):
        k.default_url = su["defaultUrl"]
    if su.get("startTimeout"):
        k.start_timeout = int(su["startTimeout"])
    storage = su.get("storage", {})
    volumes, mounts = [], []
    if storage.get("type") == "dynamic":
        dyn = storage.get("dynamic", {})
        k.pvc_name_template = dyn.get("pvcNameTemplate", "claim-{user_server}")
        k.storage_pvc_ensure = True
        k.storage_capacity = storage.get("capacity", "10Gi")
        k.storage_access_modes = dyn.get("storageAccessModes", ["ReadWriteOnce"])
        if dyn.get("storageClass"):
            k.storage_class = dyn["storageClass"]
        vol = dyn.get("volumeNameTemplate", "volume-{user_server}")
        volumes.append({"name": vol, "persistentVolumeClaim": {"claimName": "{pvc_name}"}})
        mounts.append({"mountPath": storage.get("homeMountPath", "/home/jovyan"), "name": vol})
    volumes += storage.get("extraVolumes", [])
    mounts += storage.get("extraVolumeMounts", [])
    k.volumes, k.volume_mounts = volumes, mounts
    if su.get("extraEnv"):
        k.environment = dict(su["extraEnv"])
    if su.get("lifecycleHooks"):
        k.lifecycle_hooks = su["lifecycleHooks"]
    if su.get("profileList"):
        k.profile_list = su["profileList"]
    for name, code in (values.get("hub", {}).get("extraConfig") or {}).items():
        env = dict(getattr(k, "environment", {}) or {})
        exec(compile(code, f"hub.extraConfig.{name}", "exec"), {"c": c})  # noqa: S102 - the chart does the same
        if env and isinstance(c.KubeSpawner.get("environment"), dict):
            c.KubeSpawner.environment = {**env, **c.KubeSpawner.environment}
    return c


class _User:
    def __init__(self, name: str, uid: int):
        self.name, self.id, self.url = name, uid, f"/user/{name}/"
        self.escaped_name = name


async def _manifest(values: dict, profile: str | None, user: str, user_id: int):
    from kubespawner import KubeSpawner

    spawner = KubeSpawner(_mock=True, config=kubespawner_config(values), user=_User(user, user_id))
    spawner.hub = type("Hub", (), {"public_host": "hub", "url": "http://hub:8081/hub/", "base_url": "/hub/",
                                   "api_url": "http://hub:8081/hub/api"})()
    spawner.api_token = "offline-check"
    spawner.user_options = {"profile": profile} if profile else {}
    await spawner.load_user_options()
    pod = await spawner.get_pod_manifest()
    from kubernetes_asyncio.client import ApiClient

    async with ApiClient() as api:  # the pod as Kubernetes receives it (camelCase keys)
        return spawner, api.sanitize_for_serialization(pod)


OFFLINE_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: offline, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: offline, user: {token: offline}}]
contexts: [{name: offline, context: {cluster: offline, user: offline}}]
current-context: offline
"""


def pod_manifest(values: dict, profile: str | None = None, *, user: str = "anna.meyer", user_id: int = 7):
    """(spawner, pod as a dict) for ``user`` starting the ``profile`` (slug) of the values, built by KubeSpawner.

    KubeSpawner loads a Kubernetes client configuration when created; it gets a placeholder one (a server
    on 127.0.0.1:9 that is never contacted: building a manifest makes no API call)."""
    import tempfile

    from kubernetes_asyncio.config import kube_config

    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "kubeconfig"
        cfg.write_text(OFFLINE_KUBECONFIG)
        old = kube_config.KUBE_CONFIG_DEFAULT_LOCATION  # read from $KUBECONFIG when the module was imported
        kube_config.KUBE_CONFIG_DEFAULT_LOCATION = str(cfg)
        try:
            return asyncio.run(_manifest(values, profile, user, user_id))
        finally:
            kube_config.KUBE_CONFIG_DEFAULT_LOCATION = old
