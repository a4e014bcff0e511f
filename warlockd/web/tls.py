"""Where the API listens: loopback unless configured; anywhere else only with TLS.

check_listen() is the policy; ensure_self_signed() makes a certificate with Debian's openssl
command (no Python crypto library needed) for hosts that have none, and fingerprint() gives
the SHA-256 fingerprint to print, so a client can pin it (curl --pinnedpubkey aside, a person
compares it with what the browser shows)."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import socket
import ssl
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from ..errors import CommandError, InvalidInput, WarlockError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8077  # web/settings.py's default too
CERT, KEY = "cert.pem", "key.pem"
DAYS = 825  # what browsers still accept for a certificate's lifetime


class Listen(NamedTuple):
    host: str
    port: int
    cert: Path | None  # both or neither
    key: Path | None

    @property
    def tls(self) -> bool:
        return self.cert is not None

    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"


def is_loopback(host: str) -> bool:
    """Only literal loopback addresses and `localhost` count; any other name may resolve
    anywhere (and 0.0.0.0 or :: is every interface)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_listen(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    cert: Path | str | None = None,
    key: Path | str | None = None,
) -> Listen:
    """The listen address to use, or WarlockError: a bind beyond loopback needs TLS."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidInput(f"listen port {port!r} is not a port number (1-65535)")
    if not host or not host.isprintable():
        raise InvalidInput(f"listen address {host!r} is empty or unprintable")
    if (cert is None) != (key is None):
        raise InvalidInput(
            "TLS needs both a certificate and a private key",
            hint="set both tls_cert and tls_key in the [api] section, or neither",
        )
    if cert is None or key is None:
        if not is_loopback(host):
            raise WarlockError(
                f"refusing to listen on {host}:{port} without TLS: API keys, passwords and "
                "session cookies would cross the network in clear",
                hint="set tls_cert and tls_key in the [api] section, or tls_self_signed = true "
                "to have a certificate made (its fingerprint is printed), or listen on "
                "127.0.0.1 behind a TLS reverse proxy",
            )
        return Listen(host, port, None, None)
    cert_p, key_p = Path(cert), Path(key)
    for what, p in (("certificate", cert_p), ("private key", key_p)):
        if not p.is_file():
            raise InvalidInput(f"TLS {what} {p} does not exist")
    if key_p.stat().st_mode & 0o077:
        raise InvalidInput(
            f"TLS private key {key_p} is readable by others", hint=f"chmod 600 {key_p}"
        )
    try:  # load both now: a bad pair fails here, with its name, not in uvicorn's startup
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert_p, key_p)
    except (ssl.SSLError, OSError) as e:
        raise InvalidInput(f"TLS certificate {cert_p} with key {key_p}: {e}") from None
    return Listen(host, port, cert_p, key_p)


def fingerprint(cert: Path) -> str:
    """SHA-256 of the DER certificate, as `openssl x509 -fingerprint -sha256` writes it."""
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _is_dns_name(name: str) -> bool:
    return bool(name) and len(name) <= 253 and all(c.isalnum() or c in "-." for c in name)


def _subject_alt_names(names: Iterable[str]) -> str:
    out = []
    for n in dict.fromkeys(names):  # in order, once each
        try:
            out.append(f"IP:{ipaddress.ip_address(n)}")
        except ValueError:
            if not _is_dns_name(n):
                raise InvalidInput(f"{n!r} is not a host name or an address") from None
            out.append(f"DNS:{n}")
    return ",".join(out)


def ensure_self_signed(
    directory: Path, names: Iterable[str] = (), days: int = DAYS
) -> tuple[Path, Path, str]:
    """(certificate, key, fingerprint) in `directory` (0700), made with openssl if not there
    yet: an EC P-256 key (0600) and a certificate for the host's name, localhost, the
    loopback addresses and `names`. An existing pair is kept: clients have pinned it."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    cert, key = directory / CERT, directory / KEY
    if cert.is_file() and key.is_file():
        return cert, key, fingerprint(cert)
    own = [h for h in (socket.gethostname(),) if _is_dns_name(h)]
    alt = _subject_alt_names([*names, *own, "localhost", "127.0.0.1", "::1"])
    tmp_cert, tmp_key = directory / f".{CERT}.tmp", directory / f".{KEY}.tmp"
    cmd = [
        "openssl", "req", "-x509", "-new", "-nodes", "-sha256", "-days", str(days),
        "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-keyout", str(tmp_key), "-out", str(tmp_cert),
        "-subj", "/CN=warlockd", "-addext", f"subjectAltName={alt}",
        "-addext", "basicConstraints=critical,CA:FALSE",
        "-addext", "extendedKeyUsage=serverAuth",
    ]  # fmt: skip
    try:  # umask 077: the key is never readable by others, not even for a moment
        res = subprocess.run(cmd, capture_output=True, text=True, umask=0o077, check=False)
    except OSError as e:
        raise CommandError(f"openssl: {e}", hint="apt-get install openssl") from None
    if res.returncode != 0:
        for p in (tmp_cert, tmp_key):
            p.unlink(missing_ok=True)
        raise CommandError(f"openssl req failed: {res.stderr.strip()[-300:]}")
    os.chmod(tmp_key, 0o600)
    os.replace(tmp_key, key)  # key first: a certificate on disk always has its key
    os.replace(tmp_cert, cert)
    os.chmod(cert, 0o644)
    return cert, key, fingerprint(cert)
