from __future__ import annotations

from pathlib import Path

import pytest

from callcentre import config
from callcentre.__main__ import main
from callcentre.errors import ConfigError
from callcentre.storage.db import migrations
from callcentre.storage.engines import shown, with_password


def test_layers_defaults_file_env_cli(tmp_path: Path) -> None:
    file = tmp_path / "cc.toml"
    file.write_text('ami_host = "pbx.example"\nhttp_port = 9000\ninbound_contexts = ["a", "b"]\n')
    c = config.load(file, {"CALLCENTRE_HTTP_PORT": "9100", "CALLCENTRE_AMI_SECRET": "s3"},
                    {"http_port": "9200"})
    assert (c.ami_host, c.http_port, c.ami_secret, c.inbound_contexts) == (
        "pbx.example", 9200, "s3", ("a", "b"))
    assert config.load().ami_port == 5038
    env = config.load(env={"CALLCENTRE_INBOUND_CONTEXTS": "x, y"})
    assert env.inbound_contexts == ("x", "y")


@pytest.mark.parametrize(("env", "message"), [
    ({"CALLCENTRE_HTTP_PORT": "eighty"}, "CALLCENTRE_HTTP_PORT"),
    ({"CALLCENTRE_HTTP_PORT": "70000"}, "http_port"),
    ({"CALLCENTRE_TIMEZONE": "Mars/Olympus"}, "timezone"),
    ({"CALLCENTRE_REPEAT_WINDOW_DAYS": "0"}, "repeat_window_days"),
    ({"CALLCENTRE_LOG_LEVEL": "LOUD"}, "log_level"),
    ({"CALLCENTRE_CONFIG": "/nonexistent/cc.toml"}, "cannot read"),
    # a provider's answers over plain http could be changed on the way: only on this machine
    ({"CALLCENTRE_OIDC_ISSUER": "http://login.council.example"}, "oidc_issuer"),
    ({"CALLCENTRE_OIDC_ISSUER": "login.council.example"}, "oidc_issuer"),
    ({"CALLCENTRE_OIDC_ISSUER": "https://login.council.example",
      "CALLCENTRE_OIDC_CLIENT_ID": ""}, "oidc_client_id"),
])
def test_bad_values_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config.load(env=env)


def test_an_https_or_local_identity_provider_is_taken() -> None:
    for issuer in ("https://login.council.example/realms/staff", "http://localhost:9400"):
        assert config.load(env={"CALLCENTRE_OIDC_ISSUER": issuer}).oidc_issuer == issuer


def test_unknown_keys_are_rejected(tmp_path: Path) -> None:
    file = tmp_path / "cc.toml"
    file.write_text('ami_hots = "typo"\n')
    with pytest.raises(ConfigError, match="unknown setting 'ami_hots'"):
        config.load(file)
    with pytest.raises(ConfigError, match="unknown setting"):
        config.load(overrides={"nope": "1"})


def test_cli_reports_config_errors_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--set", "http_port=x", "migrate"]) == 2
    assert "http_port" in capsys.readouterr().err


def test_cli_migrate_and_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "cc.sqlite3"
    assert main(["--set", f"db={db}", "migrate"]) == 0
    latest = migrations()[-1][0]  # every migration in callcentre/storage/migrations/ applied
    assert f"schema version {latest}" in capsys.readouterr().out
    assert main(["--set", f"db={db}", "token", "create", "--role", "agent", "--name", "desk"]) == 0
    assert capsys.readouterr().out.startswith("cc_")


def test_the_db_password_comes_from_its_file_into_a_url_without_one(tmp_path: Path) -> None:
    """docker/compose.yml mounts the database's password as a secret file: the URL in the
    environment then holds no password, and `podman inspect` shows none."""
    secret = tmp_path / "db_password"
    secret.write_text("p@ss/w:rd\n")
    url = "postgresql://callcentre@postgres:5432/callcentre"
    assert with_password(url, str(secret)) == (
        "postgresql://callcentre:p%40ss%2Fw%3Ard@postgres:5432/callcentre")
    assert with_password(url, "") == url
    assert with_password("postgresql://cc:own@db/cc", str(secret)) == "postgresql://cc:own@db/cc"
    assert shown(with_password(url, str(secret))) == url
    with pytest.raises(ConfigError, match="cannot read"):
        with_password(url, str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="names no user"):
        with_password("postgresql://postgres:5432/callcentre", str(secret))
