from __future__ import annotations

import contextlib
import os
import ssl
import stat
import subprocess
from pathlib import Path

import pytest

from warlockd.errors import InvalidInput, WarlockError
from warlockd.web.tls import check_listen, ensure_self_signed, fingerprint, is_loopback


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    return ensure_self_signed(tmp_path_factory.mktemp("tls") / "tls", ["panel.example.org"])


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "[::1]", "localhost"])
def test_loopback_needs_no_tls(host: str) -> None:
    listen = check_listen(host, 8790)
    assert not listen.tls and listen.url().startswith("http://")


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "192.0.2.10", "2001:db8::1", "panel.example.org", "localhost."]
)
def test_a_bind_beyond_loopback_without_tls_is_refused(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(WarlockError, match="without TLS") as e:
        check_listen(host, 8790)
    assert e.value.hint is not None and "tls_cert" in e.value.hint


@pytest.mark.parametrize("port", [0, 65536, -1, True])
def test_the_port_is_checked(port: int) -> None:
    with pytest.raises(InvalidInput, match="not a port"):
        check_listen("127.0.0.1", port)


def test_a_certificate_without_its_key_is_refused(pair: tuple[Path, Path, str]) -> None:
    with pytest.raises(InvalidInput, match="both"):
        check_listen("0.0.0.0", 8790, cert=pair[0])


def test_with_a_certificate_any_address_will_do(pair: tuple[Path, Path, str]) -> None:
    listen = check_listen("0.0.0.0", 8443, pair[0], pair[1])
    assert listen.tls and listen.url() == "https://0.0.0.0:8443"


def test_a_missing_or_mismatched_certificate_is_refused_at_start(
    pair: tuple[Path, Path, str], tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        check_listen("0.0.0.0", 8443, tmp_path / "nope.pem", pair[1])
    other_cert, _, _ = ensure_self_signed(tmp_path / "other")
    with pytest.raises(InvalidInput, match="with key"):
        check_listen("0.0.0.0", 8443, other_cert, pair[1])


def test_a_private_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    cert, key, _ = ensure_self_signed(tmp_path / "tls")
    os.chmod(key, 0o644)
    with pytest.raises(InvalidInput, match="readable by others"):
        check_listen("0.0.0.0", 8443, cert, key)


def test_the_generated_fingerprint_is_the_one_openssl_prints(pair: tuple[Path, Path, str]) -> None:
    cert, _, printed = pair
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", str(cert)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out.split("=", 1)[1] == printed == fingerprint(cert)


def test_the_key_and_its_directory_are_root_only(pair: tuple[Path, Path, str]) -> None:
    _, key, _ = pair
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in key.parent.iterdir()) == ["cert.pem", "key.pem"]


def test_the_certificate_names_the_host_and_loopback(pair: tuple[Path, Path, str]) -> None:
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-text", "-in", str(pair[0])],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in ["DNS:panel.example.org", "DNS:localhost", "IP Address:127.0.0.1"]:
        assert name in text
    assert "CA:FALSE" in text and "TLS Web Server Authentication" in text


def test_an_existing_certificate_is_kept(pair: tuple[Path, Path, str]) -> None:
    assert ensure_self_signed(pair[0].parent) == pair


def test_a_tls_client_pinning_the_certificate_can_talk_to_it(pair: tuple[Path, Path, str]) -> None:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(pair[0], pair[1])
    client = ssl.create_default_context(cafile=str(pair[0]))
    a, b = ssl.MemoryBIO(), ssl.MemoryBIO()
    c, d = ssl.MemoryBIO(), ssl.MemoryBIO()
    srv = server.wrap_bio(a, b, server_side=True)
    cli = client.wrap_bio(c, d, server_hostname="localhost")
    for _ in range(10):  # shuttle the handshake between the two in memory
        for side in (cli, srv):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
        a.write(d.read())
        c.write(b.read())
    assert cli.version() in ("TLSv1.2", "TLSv1.3")


def test_bad_names_for_the_certificate_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not a host name"):
        ensure_self_signed(tmp_path / "tls", ["bad name/../x"])
