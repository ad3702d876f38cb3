"""JupyterHub configuration of the course's class hub (one server).

Everything is read from the hub settings file named by $MEDAI_HUB_SETTINGS (default
/etc/medai-hub/hub-settings.json; see deploy/hub-settings.example.json) and applied by
medai_lib.course.hub.configure: PAM login for the roster's Linux users, JupyterHub 5 roles, per-learner
cgroup limits, course notebooks copied at spawn, nbgrader's exchange, the idle culler, the project's own
configurable-http-proxy. Start it as root: `jupyterhub -f deploy/jupyterhub_config.py`
(deploy/medai-hub.service does this under systemd).
"""
import os

from medai_lib.course.hub import HubSettings, configure

c = get_config()  # noqa: F821 - provided by JupyterHub
configure(c, HubSettings.from_file(os.environ.get("MEDAI_HUB_SETTINGS", "/etc/medai-hub/hub-settings.json")))
