"""The [api] table of warlockd.toml, and how an operation's request crosses to its unit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.unit.support import ID_A, ID_C, REPO
from warlockd.actions import Args
from warlockd.config import load
from warlockd.errors import InvalidInput
from warlockd.web.settings import ApiSettings
from warlockd.web.worker import decode, encode

SHIPPED = REPO / "etc" / "warlockd.toml"


def test_the_shipped_api_table_uncommented_gives_the_defaults(tmp_path: Path) -> None:
    text = SHIPPED.read_text()
    section = text[text.index("#[api]") :]
    uncommented = re.sub(r"^#(\[api\]|\w+ = )", r"\1", section, flags=re.M)
    path = tmp_path / "w.toml"
    path.write_text(uncommented)
    assert uncommented.startswith("[api]\nenabled = true\n")
    assert load(path).api == ApiSettings()
    assert ApiSettings().listen == "127.0.0.1" and ApiSettings().port == 8077


def test_an_api_table_sets_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text(
        '[api]\nlisten = "0.0.0.0"\nport = 8443\ntls_cert = "/etc/ssl/c.pem"\n'
        'tls_key = "/etc/ssl/k.pem"\norigins = ["https://panel.example.org/"]\n'
        "max_streams = 5\nrequest_timeout = 2.5\n"
    )
    api = load(path).api
    assert (api.listen, api.port, api.max_streams, api.request_timeout) == ("0.0.0.0", 8443, 5, 2.5)
    assert api.tls_cert == Path("/etc/ssl/c.pem") and api.origins == ("https://panel.example.org",)


def test_every_mistake_of_an_api_table_is_named_at_once(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text(
        '[api]\nport = 70000\nenabled = "yes"\nlisten = "my host"\ntls_cert = "c.pem"\n'
        'origins = ["ftp://x"]\nmax_body_kb = 0\ncolour = "red"\ntls_self_signed = 1\n'
    )
    with pytest.raises(InvalidInput) as e:
        load(path)
    said = str(e.value)
    for key in ("api.port", "api.enabled", "api.listen", "api.tls_cert", "api.origins",
                "api.max_body_kb", "api.colour", "api.tls_self_signed"):  # fmt: skip
        assert key in said, key
    assert "9 problem(s)" in said  # tls_cert: relative, and without tls_key


def test_an_operations_request_crosses_to_its_unit_whole() -> None:
    args = Args(instance=ID_A, instance_id=ID_C, port=["game=30100"], env=["A=b"], force=True)
    command, back = decode(encode("clone", args))

    def plain(a: Args) -> dict[str, object]:
        return {k: list(v) if isinstance(v, list | tuple) else v for k, v in a._asdict().items()}

    assert command == "clone" and plain(back) == plain(args)


def test_an_id_in_an_operations_request_is_checked_again_on_the_way_in() -> None:
    forged = encode("delete", Args()).replace('"instance": null', '"instance": "../etc"')
    with pytest.raises(InvalidInput, match="invalid instance id"):
        decode(forged)
