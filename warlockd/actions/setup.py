"""setup: install warlockd's system files from a checkout (the Debian package ships the
same files itself): the game template, warlockd.service, the D-Bus policy and a default
configuration, then start the daemon; and bring every instance's drop-in up to date."""

from __future__ import annotations

import socket
from pathlib import Path

from .. import fsutil, layout, registrations, schedules, units
from ..apps import App, find_app
from ..builds import install_path, log
from ..completion import script
from ..config import load
from ..errors import WarlockError
from ..host import Host
from ..model import Instance
from ..paths import PACKAGE_ROOT
from ..systemd import UnitState
from . import Args, Outcome

POLICY = Path("/etc/dbus-1/system.d/org.warlock.Manager1.conf")
COMPLETION = Path("/etc/bash_completion.d/warlock")  # bash-completion reads it at start
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
            (paths.templates / DAEMON_UNIT).read_text(), PACKAGE_ROOT
        ),
        POLICY: (PACKAGE_ROOT / "data" / "org.warlock.Manager1.conf").read_text(),
    } | schedules.templates(paths, PACKAGE_ROOT)
    config = paths.config_file
    if not config.exists():  # the admin's file is never overwritten
        wanted[config] = (PACKAGE_ROOT / "etc" / "warlockd.toml").read_text()
    written += [str(p) for p, text in wanted.items() if _write(p, text, p == config)]
    if written:
        host.systemd.reload()
    if str(POLICY) in written:
        from ..run import run

        # dbus-daemon re-reads its policy on ReloadConfig
        bus = ["org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus"]
        run(["busctl", "call", *bus, "ReloadConfig"], check=False)
    host.systemd.enable([DAEMON_UNIT])
    # a changed unit or policy needs a fresh daemon; restarting it never touches a game
    (host.systemd.restart if written else host.systemd.start)(DAEMON_UNIT, 60)
    if _write(COMPLETION, script(paths)):  # read by new shells; nothing to restart
        written.append(str(COMPLETION))
    return written


def _write(path: Path, text: str, secret: bool = False) -> bool:
    """Write `path` unless it holds `text` already; whether it was written. The
    configuration may hold webhook URLs, which are secrets: not for every user."""
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fsutil.atomic_write(path, text, 0o640 if secret else 0o644)
    return True


def refresh_dropins(host: Host) -> list[str]:
    """Bring every instance up to date: its directory into the current layout (while its
    game is stopped; a running one moves when it next starts), its manage.py, and its
    drop-in rendered again (a newer warlockd, an edited manifest), with one reload. A
    running game keeps what it was started with until its next start. Returns what was
    done, one line each."""
    done: list[str] = []
    rewrote = False
    apps: dict[str, App] = {}
    with host.registry.lock():
        instances, _ = host.registry.scan()
        old = [i for i in instances if i.layout < layout.LAYOUT]
        states = host.systemd.states("game@*.service") if old else {}
        for inst in instances:
            try:
                if inst.layout < layout.LAYOUT:
                    inst = _migrated(host, inst, states.get(inst.unit), done)
                elif layout.write_shim(Path(inst.path), layout.shim_text(instance=inst.id)):
                    done.append(f"wrote {Path(inst.path) / layout.SHIM}")
                app = apps.get(inst.app) or apps.setdefault(
                    inst.app, find_app(host.paths, inst.app)
                )
                path = install_path(host.paths, app, inst.build)
                dropin = units.render_dropin(inst, app, host.paths, path)
            except (WarlockError, OSError) as e:  # one instance's problem stops no other
                log(f"warning: {inst.unit}: left as it is: {e}")
                continue
            if units.read_dropin(host.paths, inst) != dropin:
                units.write_dropin(host.paths, inst, dropin)
                rewrote = True
                done.append(f"rewrote the drop-in of {inst.unit} (applies at its next start)")
        if rewrote:
            host.systemd.reload()
        # the configured layout of the .app files panels read (switching rewrites them)
        done += registrations.sync(host.paths, host.registry.all())
    return done


def _migrated(host: Host, inst: Instance, st: UnitState | None, done: list[str]) -> Instance:
    """A layout-1 instance moved into the current layout now if its game is stopped."""
    if st is not None and st.active in ("active", "activating", "deactivating", "reloading"):
        done.append(
            f"{inst.unit} runs: its files move into {layout.data_dir(inst.with_(layout=2))} "
            f"(and it gets its {layout.SHIM}) when it next starts"
        )
        return inst
    moved = layout.migrate(inst)
    host.registry.save(moved)
    done.append(f"moved the files of {inst.unit} into {layout.data_dir(moved)}")
    return moved


def dashboard_notes(host: Host) -> list[str]:
    """Where the dashboard answers and how to get in: the last thing setup says."""
    try:
        api = load(host.paths.config_file).api
    except WarlockError as e:  # warlockd itself says so at its start; setup goes on
        return [f"the dashboard's settings cannot be read: {e}"]
    if not api.enabled:
        return [f"the dashboard is off ([api] enabled = false in {host.paths.config_file})"]
    tls = api.tls_cert is not None or api.tls_self_signed
    wildcard = api.listen in ("0.0.0.0", "::", "")
    where = socket.getfqdn() if wildcard else f"[{api.listen}]" if ":" in api.listen else api.listen
    return [
        f"dashboard: {'https' if tls else 'http'}://{where}:{api.port}/",
        "log in with a user (`warlock user add --name NAME`, as root: it asks a password) "
        "or with an API key (`warlock api-key create --name NAME --scope admin`)",
    ]


def do_setup(host: Host, args: Args) -> Outcome:
    notes = [f"installed {path}" for path in install(host)]
    notes.append("warlockd.service is running")
    notes += refresh_dropins(host)
    notes += dashboard_notes(host)
    return Outcome(notes=tuple(notes))
