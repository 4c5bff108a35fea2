"""docker/ agrees with itself and with metrics/, without building anything.

The names that tie the stack's files together are written in several places (base image
names, the datasource uid, the scrape job, the secret files); these tests fail when one of
them changes alone. tests/docker/test_stack.py proves that the stack actually runs.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.docker.stack import built_images

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
DOCKERFILES = [DOCKER / "Dockerfile", DOCKER / "asterisk" / "Dockerfile",
               DOCKER / "prometheus" / "Dockerfile"]
COMPOSE = (DOCKER / "compose.yml").read_text()


def test_the_dockerfiles_default_to_the_base_images_that_base_images_sh_makes() -> None:
    made = set(re.findall(r'^\w+_image="(localhost/[^"]+)"$',
                          (DOCKER / "base-images.sh").read_text(), re.MULTILINE))
    for dockerfile in DOCKERFILES:
        default = re.search(r"^ARG BASE_IMAGE=(\S+)$", dockerfile.read_text(), re.MULTILINE)
        assert default and default.group(1) in made, dockerfile
    assert set(re.findall(r"_BASE_IMAGE:-([^}]+)\}", COMPOSE)) == made


def test_every_image_compose_builds_is_tagged_with_callcentre_image_tag() -> None:
    """tests/docker/stack.py tags each test run's images apart by this, and finds them by it."""
    built = re.findall(r"^  ([\w-]+):\n    image: .*\n    build:$", COMPOSE, re.MULTILINE)
    assert built and sorted(built) == sorted(built_images())


def test_every_dashboard_uses_the_provisioned_datasource() -> None:
    provisioned = re.findall(r"^\s+uid: (\S+)$", (
        DOCKER / "grafana/provisioning/datasources/prometheus.yml").read_text(), re.MULTILINE)
    dashboards = sorted((REPO / "metrics" / "dashboards").glob("*.json"))
    if not dashboards:
        pytest.skip("metrics/dashboards/ has no dashboard yet")
    for path in dashboards:
        uids = {ds["uid"] for ds in _datasources(json.loads(path.read_text()))}
        assert uids <= set(provisioned), f"{path.name} uses datasources {uids}"


def test_grafana_loads_dashboards_from_where_compose_mounts_them() -> None:
    provider = (DOCKER / "grafana/provisioning/dashboards/callcentre.yml").read_text()
    path = re.search(r"^\s+path: (\S+)$", provider, re.MULTILINE)
    assert path and f"../metrics/dashboards:{path.group(1)}:ro" in COMPOSE


def test_prometheus_scrapes_the_job_that_the_rules_select() -> None:
    config = (DOCKER / "prometheus/prometheus.yml").read_text()
    assert "- job_name: callcentre" in config and '"callcentre:8080"' in config
    rules = REPO / "metrics" / "rules.yml"
    if rules.exists():
        jobs = set(re.findall(r'job="([^"]+)"', rules.read_text()))
        assert jobs <= {"callcentre", "prometheus"}, jobs


def test_compose_publishes_no_ami_and_holds_no_secret() -> None:
    published = re.findall(r'^\s+- "([^"]+)"$', COMPOSE, re.MULTILINE)
    assert not [p for p in published if "5038" in p]
    # secrets are files mounted under /run/secrets, never values in the environment
    for line in re.findall(r"^\s+(\w*(?:SECRET|PASSWORD)\w*):(.*)$", COMPOSE, re.MULTILINE):
        assert line[0].endswith("_FILE") and line[1].strip().startswith("/run/secrets/"), line


@pytest.mark.parametrize("script", ["base-images.sh", "init-secrets.sh", "asterisk/entrypoint.sh",
                                    "callcentre/entrypoint.sh"])
def test_shell_scripts_parse(script: str) -> None:
    shebang = (DOCKER / script).read_text().splitlines()[0]
    shell = "bash" if "bash" in shebang else "sh"
    done = subprocess.run([shell, "-n", str(DOCKER / script)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr


def _datasources(node: object) -> list[dict[str, str]]:
    """Every {"type": ..., "uid": ...} datasource reference in a dashboard (not ${...} inputs)."""
    found = []
    if isinstance(node, dict):
        ds = node.get("datasource")
        if isinstance(ds, dict) and "uid" in ds and not str(ds["uid"]).startswith("$"):
            found.append(ds)
        for value in node.values():
            found += _datasources(value)
    elif isinstance(node, list):
        for value in node:
            found += _datasources(value)
    return found
