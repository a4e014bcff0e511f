"""`manage.py setup`: install warlockd's system files from a checkout (the Debian package
ships the same files itself): the game template, warlockd.service, the D-Bus policy and a
default configuration, then start the daemon."""

from __future__ import annotations

from pathlib import Path

from . import fsutil, units
from .host import Host

POLICY = Path("/etc/dbus-1/system.d/org.warlock.Manager1.conf")
DAEMON_UNIT = "warlockd.service"


def daemon_unit(text: str, package_root: Path) -> str:
    """warlockd.service for a checkout: the module from PYTHONPATH instead of /usr/bin."""
    return text.replace(
        "ExecStart=/usr/bin/warlockd",
        f"Environment=PYTHONPATH={package_root}\nExecStart=/usr/bin/python3 -m warlockd.daemon",
    )


def install(host: Host) -> list[str]:
    """Write what is missing or changed; returns what it wrote. Idempotent. With the Debian
    package installed, its files rule: only make sure the daemon runs."""
    if Path("/lib/systemd/system", DAEMON_UNIT).exists():
        host.systemd.enable([DAEMON_UNIT])
        host.systemd.start(DAEMON_UNIT, 60)
        return []
    paths = host.paths
    written: list[str] = []
    template = units.install_template(paths)
    if template:
        written.append(str(template))
    wanted = {
        paths.units / DAEMON_UNIT: daemon_unit(
            (paths.templates / DAEMON_UNIT).read_text(), units.PACKAGE_ROOT
        ),
        POLICY: (units.PACKAGE_ROOT / "data" / "org.warlock.Manager1.conf").read_text(),
    }
    config = paths.config / "warlockd.toml"
    if not config.exists():  # the admin's file is never overwritten
        wanted[config] = (units.PACKAGE_ROOT / "etc" / "warlockd.toml").read_text()
    for path, text in wanted.items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            fsutil.atomic_write(path, text, 0o644)
            written.append(str(path))
    if written:
        host.systemd.reload()
    if str(POLICY) in written:
        from .run import run

        # dbus-daemon re-reads its policy on ReloadConfig
        bus = ["org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus"]
        run(["busctl", "call", *bus, "ReloadConfig"], check=False)
    host.systemd.enable([DAEMON_UNIT])
    # a changed unit or policy needs a fresh daemon; restarting it never touches a game
    (host.systemd.restart if written else host.systemd.start)(DAEMON_UNIT, 60)
    return written
