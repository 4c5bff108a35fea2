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
               DOCKER / "prometheus" / "Dockerfile", DOCKER / "alertmanager" / "Dockerfile",
               DOCKER / "postgres" / "Dockerfile"]
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


def test_grafana_loads_the_dashboard_callcentre_writes_from_its_settings() -> None:
    """callcentre's entrypoint writes ALERTING_DIR/dashboards/callcentre.json (the volume
    alerting); Grafana mounts that volume and its provider reads that folder."""
    provider = (DOCKER / "grafana/provisioning/dashboards/callcentre.yml").read_text()
    path = re.search(r"^\s+path: (\S+)$", provider, re.MULTILINE)
    mount = re.search(r"- alerting:(\S+):ro", COMPOSE.split("  grafana:")[1])
    assert path and mount and path.group(1) == f"{mount.group(1)}/dashboards"
    entrypoint = (DOCKER / "callcentre/entrypoint.sh").read_text()
    assert 'callcentre dashboard -o "$ALERTING_DIR/dashboards/' in entrypoint
    assert '"$ALERTING_DIR/dashboards/callcentre.json"' in entrypoint
    assert "ALERTING_DIR: /var/lib/callcentre-alerting" in COMPOSE
    assert "- alerting:/var/lib/callcentre-alerting" in COMPOSE


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


def _block(service: str) -> str:
    """One service's lines in compose.yml."""
    block = re.search(rf"^  {service}:\n((?:    .*\n|\n)+)", COMPOSE, re.MULTILINE)
    assert block, service
    return block.group(1)


def test_postgres_is_reached_by_the_replicas_alone_with_the_password_of_a_secret_file() -> None:
    postgres = _block("postgres")
    assert "\n    ports:" not in postgres and "5432" not in "".join(
        re.findall(r'^\s+- "([^"]+)"$', COMPOSE, re.MULTILINE))
    assert "      POSTGRES_PASSWORD_FILE: /run/secrets/db_password\n" in postgres
    assert "file: ${CALLCENTRE_SECRETS:-./secrets}/db-password" in COMPOSE
    assert "db-password" in (DOCKER / "init-secrets.sh").read_text()
    assert "      - postgres-data:/var/lib/postgresql/data\n" in postgres
    assert "pg_isready" in (DOCKER / "postgres/Dockerfile").read_text()
    # one URL for both replicas (the anchor), without a password; the password from the file
    callcentre = _block("callcentre")
    url = re.search(r"^      CALLCENTRE_DB: (postgresql://callcentre@postgres:5432/\w+)$",
                    callcentre, re.MULTILINE)
    assert url and "      CALLCENTRE_DB_PASSWORD_FILE: /run/secrets/db_password\n" in callcentre
    assert "secrets: &callcentre-secrets [ami_secret, db_password]" in callcentre


def test_two_replicas_lead_one_pbx_under_their_own_names_and_are_both_scraped() -> None:
    second = _block("callcentre-2")
    assert "    environment:\n      <<: *callcentre-environment\n" in second
    assert "      CALLCENTRE_INSTANCE_NAME: callcentre-2\n" in second
    assert "      CALLCENTRE_INSTANCE_NAME: callcentre\n" in _block("callcentre")
    for block in (_block("callcentre"), second):
        assert "    restart: unless-stopped\n" in block  # exit 75: back as the standby
    assert '"${CALLCENTRE_2_HTTP_PORT:-8081}:8080"' in second
    config = (DOCKER / "prometheus/prometheus.yml").read_text()
    assert '- targets: ["callcentre:8080", "callcentre-2:8080"]' in config


def _mount(service: str, volume: str) -> str:
    """Where compose.yml mounts a named volume in one service."""
    found = re.search(rf"^      - {volume}:(\S+?)(?::ro)?$", _block(service), re.MULTILINE)
    assert found, f"{service} does not mount {volume}"
    return found.group(1)


def test_the_alerting_volume_is_where_each_service_writes_or_reads_it() -> None:
    """callcentre writes rules.yml and alertmanager.yml into ALERTING_DIR; Prometheus and
    Alertmanager wait for them where compose mounts the same volume."""
    written = re.search(r"^      ALERTING_DIR: (\S+)$", COMPOSE, re.MULTILINE)
    assert written and _mount("callcentre", "alerting") == written.group(1)
    entrypoint = (DOCKER / "callcentre/entrypoint.sh").read_text()
    assert '"$ALERTING_DIR/rules.yml"' in entrypoint
    assert '"$ALERTING_DIR/alertmanager.yml"' in entrypoint
    rules = _mount("prometheus", "alerting")
    assert f"rules={rules}/rules.yml" in (DOCKER / "prometheus/entrypoint.sh").read_text()
    assert f"  - {rules}/rules*.yml" in (DOCKER / "prometheus/prometheus.yml").read_text()
    config = _mount("alertmanager", "alerting")
    assert f"config={config}/alertmanager.yml" in (
        DOCKER / "alertmanager/entrypoint.sh").read_text()


def test_prometheus_sends_alerts_to_the_stacks_alertmanager() -> None:
    config = (DOCKER / "prometheus/prometheus.yml").read_text()
    assert re.search(r'^alerting:\n  alertmanagers:\n    - static_configs:\n'
                     r'        - targets: \["alertmanager:9093"\]$', config, re.MULTILINE)
    assert "--web.listen-address=:9093" in (DOCKER / "alertmanager/entrypoint.sh").read_text()
    assert '"${ALERTMANAGER_PORT:-9093}:9093"' in COMPOSE


def test_the_smtp_password_is_a_secret_file_that_init_secrets_makes() -> None:
    assert "file: ${CALLCENTRE_SECRETS:-./secrets}/smtp-password" in COMPOSE
    assert '"$dir/smtp-password"' in (DOCKER / "init-secrets.sh").read_text()
    assert "CALLCENTRE_ALERT_SMTP_PASSWORD_FILE: /run/secrets/smtp_password" in COMPOSE


@pytest.mark.parametrize("script", ["base-images.sh", "init-secrets.sh", "asterisk/entrypoint.sh",
                                    "callcentre/entrypoint.sh", "prometheus/entrypoint.sh",
                                    "alertmanager/entrypoint.sh", "postgres/entrypoint.sh"])
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
