"""Settings: defaults, environment, overrides, and failing fast on bad values."""

import stat

import pytest

from app import create_app
from app.config import ConfigError, load_settings


def test_defaults_are_the_embedded_setup(tmp_path):
    settings = load_settings(tmp_path, environ={})
    assert settings["DATABASE_URL"] == f"sqlite:///{tmp_path / 'gatehouse.db'}"
    assert settings["MAIL_URL"] == (tmp_path / "mail").as_uri()
    assert settings["ISSUER"] == "http://127.0.0.1:8000"
    assert settings["API_AUDIENCE"] == "http://127.0.0.1:8000/api"
    assert settings["RATELIMIT_ENABLED"] is True
    assert settings["SESSION_COOKIE_SECURE"] is False


def test_secret_key_is_generated_once_and_owner_only(tmp_path):
    first = load_settings(tmp_path, environ={})["SECRET_KEY"]
    second = load_settings(tmp_path, environ={})["SECRET_KEY"]
    assert first == second and len(first) >= 32
    mode = stat.S_IMODE((tmp_path / "secret_key").stat().st_mode)
    assert mode == 0o600


def test_environment_overrides_defaults_and_mapping_overrides_environment(tmp_path):
    environ = {
        "DATABASE_URL": "postgresql+psycopg://u@db/x",
        "GATEHOUSE_ISSUER": "https://id.example.com/",
        "GATEHOUSE_SECRET_KEY": "s" * 40,
        "GATEHOUSE_RATELIMIT_ENABLED": "false",
        "GATEHOUSE_ACCESS_TOKEN_TTL": "600",
    }
    settings = load_settings(tmp_path, {"ACCESS_TOKEN_TTL": 60}, environ=environ)
    assert settings["DATABASE_URL"] == "postgresql+psycopg://u@db/x"
    assert settings["ISSUER"] == "https://id.example.com"
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["RATELIMIT_ENABLED"] is False
    assert settings["ACCESS_TOKEN_TTL"] == 60
    assert not (tmp_path / "secret_key").exists()


def test_gatehouse_prefix_wins_over_the_alias(tmp_path):
    environ = {"DATABASE_URL": "sqlite:///a.db", "GATEHOUSE_DATABASE_URL": "sqlite:///b.db"}
    assert load_settings(tmp_path, environ=environ)["DATABASE_URL"] == "sqlite:///b.db"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("GATEHOUSE_DATABASE_URL", "not a url", "is not a database URL"),
        ("GATEHOUSE_DATABASE_URL", "mysql://root@localhost/x", "runs on sqlite or postgresql"),
        ("GATEHOUSE_ISSUER", "ftp://example.com", "must be an http(s) URL"),
        ("GATEHOUSE_MAIL_URL", "http://mail", "use smtp://"),
        ("GATEHOUSE_RATELIMIT_ENABLED", "maybe", "expected true or false"),
        ("GATEHOUSE_ACCESS_TOKEN_TTL", "-5", "positive whole number"),
        ("GATEHOUSE_SIGNING_ALG", "HS256", "must be one of"),
        ("GATEHOUSE_SECRET_KEY", "short", "at least 16 characters"),
    ],
)
def test_bad_settings_fail_fast_naming_the_setting(tmp_path, name, value, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={name: value})
    assert message in str(caught.value)
    assert name.removeprefix("GATEHOUSE_") in str(caught.value)


def test_create_app_refuses_a_bad_database_url(tmp_path):
    with pytest.raises(ConfigError):
        create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": "::nonsense::"})
