"""Start-up refuses shipped or short secrets outside development (docs/security.md, T1).

Generated over every service's settings class and every guarded setting, so a service or
a secret added later is covered without a new line here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.billing.settings import BillingSettings
from services.conversation.settings import ConversationSettings
from services.ingest.__main__ import IngestSettings
from services.routing.__main__ import RoutingSettings
from services.sla.settings import SlaSettings
from services.stats.settings import StatsSettings
from shared.hardening import GUARDED_SECRETS, MIN_SECRET_LENGTH, operator_token_for

ROOT = Path(__file__).resolve().parents[3]
SETTINGS = [
    ConversationSettings,
    IngestSettings,
    RoutingSettings,
    StatsSettings,
    BillingSettings,
    SlaSettings,
]
STRONG = "x" * MIN_SECRET_LENGTH


def _strong_values(cls: type) -> dict[str, str]:
    return {name: STRONG for name in GUARDED_SECRETS if name in cls.model_fields}


@pytest.mark.parametrize("cls", SETTINGS, ids=lambda c: c.__name__)
def test_every_guarded_default_is_refused_in_production_and_named(cls):
    guarded = [n for n in GUARDED_SECRETS if n in cls.model_fields]
    for name in guarded:
        for weak in ("change-me-operator-token", "REPLACE-ME", "x" * (MIN_SECRET_LENGTH - 1)):
            values = {**_strong_values(cls), name: weak}
            with pytest.raises(ValidationError) as refused:
                cls(interact_env="production", **values)
            assert name.upper() in str(refused.value)
            assert weak not in str(refused.value)  # the refusal never shows the value


@pytest.mark.parametrize("cls", SETTINGS, ids=lambda c: c.__name__)
def test_shipped_defaults_are_refused_in_production(cls):
    guarded = [n for n in GUARDED_SECRETS if n in cls.model_fields and cls.model_fields[n].default]
    if guarded:
        with pytest.raises(ValidationError):
            cls(interact_env="production")
    else:
        cls(interact_env="production")  # nothing guarded: starts


@pytest.mark.parametrize("cls", SETTINGS, ids=lambda c: c.__name__)
def test_development_mode_keeps_the_defaults_and_long_secrets_start(cls):
    cls(interact_env="development")
    cls(interact_env="production", **_strong_values(cls))


def test_a_database_url_with_the_k8s_placeholder_is_refused():
    url = "postgresql+psycopg://interact_stats:REPLACE-ME@postgres:5432/interact_stats"
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        StatsSettings(interact_env="production", database_url=url, operator_token=STRONG)


def test_a_scope_with_its_own_token_is_not_opened_by_the_general_one():
    general, feed = "g" * 40, "f" * 40
    settings = ConversationSettings(operator_token=general, operator_feed_token=feed)
    assert operator_token_for(settings, "feed") == feed
    assert operator_token_for(settings, "onboarding") == general


def test_the_service_process_stops_at_start_with_a_message_naming_the_setting(tmp_path):
    env = {**os.environ, "INTERACT_ENV": "production", "DATA_DIR": str(tmp_path)}
    env.pop("OPERATOR_TOKEN", None)
    env["CHANNEL_SECRETS_KEY"] = STRONG
    done = subprocess.run(
        [sys.executable, "-m", "services.conversation"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "OPERATOR_TOKEN" in done.stderr
    assert "CHANNEL_SECRETS_KEY" not in done.stderr.split("refusing to start")[-1]
