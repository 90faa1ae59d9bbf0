"""The deployment files agree with the code: every process runs a command that exists, the web
workers run the draining entry point with enough time to drain, and the production settings
refuse values that would hurt live calls."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_settings import PRODUCTION_ENV, _manage

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def _procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        entries[name.strip()] = command.strip()
    return entries


def test_procfile_runs_the_draining_server_a_worker_beat_and_migrations() -> None:
    processes = _procfile()
    assert set(processes) == {"web", "worker", "beat", "release"}
    assert processes["web"].startswith("python -m voxsaas.serve ") and "--proxy-headers" in processes["web"]
    assert processes["worker"].startswith("celery -A voxsaas worker")
    assert processes["beat"].startswith("celery -A voxsaas beat")
    assert processes["release"] == "python manage.py migrate --noinput"


def test_compose_services_and_their_wiring() -> None:
    services = _compose()["services"]
    assert {"postgres", "redis", "migrate", "web1", "web2", "worker", "beat", "caddy"} <= set(services)
    for name in ("web1", "web2"):
        web = services[name]
        assert web["command"][:3] == ["python", "-m", "voxsaas.serve"] and "--proxy-headers" in web["command"]
        # The container must be allowed to drain for longer than DRAIN_TIMEOUT_S (300 s default).
        grace = re.fullmatch(r"(\d+)s", web["stop_grace_period"])
        assert grace is not None and int(grace.group(1)) > 300
        assert web["environment"]["WORKER_ID"] == name
        assert web["environment"]["REDIS_URL"].startswith("redis://redis:")
        assert web["environment"]["DATABASE_URL"].startswith("postgres://")
        assert web["environment"]["LOG_FORMAT"] == "json"
        assert web["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["beat"]["command"][:4] == ["celery", "-A", "voxsaas", "beat"]
    assert services["worker"]["environment"]["PROMETHEUS_MULTIPROC_DIR"] in services["worker"]["tmpfs"]
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert "ports" not in services["web1"]  # only the proxy is published


def test_caddy_balances_every_web_worker_on_readiness_and_hides_the_probes() -> None:
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    webs = sorted(name for name in _compose()["services"] if name.startswith("web"))
    upstreams = re.search(r"reverse_proxy ([^{]+)\{", caddyfile)
    assert upstreams is not None
    assert sorted(upstreams.group(1).split()) == [f"{name}:8000" for name in webs]
    assert re.search(r"health_uri /readyz\b", caddyfile)
    assert re.search(r"@internal path /healthz /readyz /metrics\s+respond @internal 404", caddyfile)


def test_dockerfile_runs_as_a_user_with_static_files_collected() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    assert "pip install -r requirements.txt" in dockerfile
    assert "manage.py collectstatic --noinput" in dockerfile
    user = [line for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert user == ["USER voxsaas"]
    assert '"voxsaas.serve"' in dockerfile.splitlines()[-1]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"CALL_HEARTBEAT_INTERVAL_S": "20", "CALL_HEARTBEAT_TIMEOUT_S": "30"}, "at least twice"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be plain or json"),
        ({"METRICS_TOKEN": "short"}, "METRICS_TOKEN must be at least 16 characters"),
        ({"WORKER_METRICS_ADDRESS": "9100"}, "WORKER_METRICS_ADDRESS must look like"),
        ({"DRAIN_TIMEOUT_S": "soon"}, "DRAIN_TIMEOUT_S must be an integer"),
    ],
)
def test_production_settings_refuse_harmful_values(changes: dict[str, str], message: str) -> None:
    result = _manage("check", **{**PRODUCTION_ENV, **changes})
    assert result.returncode != 0
    assert message in result.stderr


def test_production_values_with_json_logs_and_metrics_pass_check_deploy() -> None:
    env = {
        **PRODUCTION_ENV,
        "LOG_FORMAT": "json",
        "METRICS_TOKEN": "m" * 32,
        "REDIS_URL": "redis://redis:6379/0",
    }
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
