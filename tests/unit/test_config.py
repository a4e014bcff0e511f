from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.unit.support import ID_A, REPO
from warlockd.config import Config, Webhook, load
from warlockd.errors import InvalidInput

SHIPPED = REPO / "etc" / "warlockd.toml"


def test_a_missing_file_means_the_defaults(tmp_path: Path) -> None:
    assert load(tmp_path / "absent.toml") == Config()


def test_the_shipped_file_documents_every_key_and_loads_as_the_defaults() -> None:
    assert load(SHIPPED) == Config()
    text = SHIPPED.read_text()
    for key in Config.__dataclass_fields__:
        assert re.search(rf"^#\[?\[?{key}\b", text, re.M), f"{key} is not documented"


def test_uncommenting_the_shipped_file_gives_its_documented_defaults(tmp_path: Path) -> None:
    keys = "|".join(k for k in Config.__dataclass_fields__ if k != "webhooks")
    text = re.sub(rf"^#(({keys}) = )", r"\1", SHIPPED.read_text(), flags=re.M)
    text = text.replace("\n#[panel]\n", "\n[panel]\n")  # the table its key sits in
    assert text.count("\n#") < SHIPPED.read_text().count("\n#") - 8
    path = tmp_path / "w.toml"
    path.write_text(text)
    assert load(path) == Config()
    assert "\n[panel]\nregistration = " in text


@pytest.mark.parametrize(
    ("panel", "says"),
    [
        ('registration = "both"', "panel.registration: expected instance or game"),
        ("registration = 1", "panel.registration: expected instance or game"),
        ('layout = "game"', "panel.layout: expected the key registration"),
    ],
)
def test_a_bad_panel_table_is_named(tmp_path: Path, panel: str, says: str) -> None:
    path = tmp_path / "w.toml"
    path.write_text(f"[panel]\n{panel}\n")
    with pytest.raises(InvalidInput, match=re.escape(says)):
        load(path)


def test_the_game_registration_is_read(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text('[panel]\nregistration = "game"\n')
    assert load(path).registration == "game"


def test_values_and_webhooks_are_read(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text(
        f"""
interval = 5
disk_interval = 60.5
max_db_mb = 64
prometheus_dir = ""

[[webhooks]]
url = "https://discord.com/api/webhooks/1/abc"
kind = "discord"
instances = ["{ID_A}", "default"]
events = ["crashed", "frozen"]

[[webhooks]]
url = "http://127.0.0.1:8080/hook"
"""
    )
    config = load(path)
    assert (config.interval, config.disk_interval, config.max_db_bytes) == (5.0, 60.5, 64 << 20)
    assert config.prometheus_dir is None
    assert config.webhooks == (
        Webhook(
            "https://discord.com/api/webhooks/1/abc",
            "discord",
            frozenset({ID_A, "default"}),
            frozenset({"crashed", "frozen"}),
        ),
        Webhook("http://127.0.0.1:8080/hook"),
    )


def test_every_mistake_is_reported_at_once_with_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text(
        """
interval = 0
raw_hours = "24"
minute_days = true
prometheus_dir = "relative/dir"
crash_retry_base = 100
crash_retry_max = 10
colour = "blue"

[[webhooks]]
url = "ftp://example.org/"
kind = "slack"
instances = ["NOT-AN-ID"]
events = ["exploded"]
secret = 1

[[webhooks]]
kind = "json"
"""
    )
    with pytest.raises(InvalidInput) as err:
        load(path)
    message = err.value.message
    assert message.startswith(f"12 problem(s) in {path}:")
    for key in (
        "interval", "raw_hours", "minute_days", "prometheus_dir", "crash_retry_max", "colour",
        "webhooks[0].url", "webhooks[0].kind", "webhooks[0].instances", "webhooks[0].events",
        "webhooks[0].secret", "webhooks[1].url",
    ):  # fmt: skip
        assert f"{path}: {key}: expected" in message, key
    assert "(missing)" in message


def test_a_webhooks_key_that_is_not_an_array_of_tables_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text('webhooks = "https://example.org"\n')
    with pytest.raises(InvalidInput, match="webhooks: expected"):
        load(path)


def test_broken_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text("interval = = 3\n")
    with pytest.raises(InvalidInput, match=f"{path}: not valid TOML"):
        load(path)
