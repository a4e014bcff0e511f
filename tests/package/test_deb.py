"""The Debian package, built for real and installed with apt on a clean bookworm.

test_static_checks: lintian (no error, no warning left unexplained), systemd-analyze verify
and the exposure scores of systemd-analyze security --offline=true (tests/package/debcheck).

test_lifecycle_on_a_clean_bookworm, on a debootstrapped Debian 12 booted with systemd:
install with apt (dependencies from Debian alone) -> warlockd active and enabled, the group,
/var/lib/warlock, the D-Bus API -> `warlock --create --app example`, `manage.py --instance
ID --start`, the game active -> a junk instance record and an edited conffile -> reinstall
and upgrade to a newer version (shipping a changed conffile): the game keeps its MainPID,
warlockd is restarted, the edit survives, a schedule's timer still runs -> remove: warlockd
stopped, the game still running, instances and data kept -> purge: the running game
stopped first, then nothing of warlockd left. The junk record is there all along: no
maintainer script may trip on it.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.package import bookworm, debcheck
from tests.package.bookworm import Bookworm
from warlockd.actions.setup import daemon_unit

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_GUID = "6f0c2a1e-5b7d-4c39-9e21-3a8d4f7b2c10"
JUNK_ID = "deadbeef-0000-4000-8000-00000000dead"
UPGRADE_SUFFIX = "+upgradetest1"
APT = ["apt-get", "-y", "-q", "-o", "Dpkg::Options::=--force-confold", "-o", "Dpkg::Use-Pty=0"]
# GET an API path with a key, in the box (no curl there); exit 1 and the answer on an error
API_GET = (
    "import sys, urllib.error, urllib.request as u\n"
    "r = u.Request('http://127.0.0.1:8077' + sys.argv[1], "
    "headers={'Authorization': 'Bearer ' + sys.argv[2]})\n"
    "try: print(u.urlopen(r, timeout=10).read().decode())\n"
    "except urllib.error.HTTPError as e: print(e.read().decode()); sys.exit(1)\n"
)
# What the package owns or creates; after a purge none of it may be left.
OURS = [
    "/usr/bin/warlock",
    "/usr/bin/manage.py",
    "/usr/bin/warlockd",
    "/usr/lib/python3/dist-packages/warlockd",
    "/lib/systemd/system/game@.service",
    "/lib/systemd/system/warlockd.service",
    "/lib/systemd/system/warlock-schedule@.timer",
    "/lib/systemd/system/warlock-schedule@.service",
    "/usr/share/warlockd",
    "/usr/share/dbus-1/system.d/org.warlock.Manager1.conf",
    "/usr/share/bash-completion/completions/warlock",
    "/usr/share/bash-completion/completions/manage.py",
    "/usr/lib/sysusers.d/warlockd.conf",
    "/usr/lib/tmpfiles.d/warlockd.conf",
    "/etc/warlock",
    "/var/lib/warlock",
    "/run/warlock",
    "/etc/systemd/system/multi-user.target.wants/warlockd.service",
]


def test_static_checks(deb: Path) -> None:
    changes = sorted(deb.parent.glob(f"warlockd_{deb.name.split('_')[1]}_*.changes"))
    checks, scores = debcheck.check_all(deb, changes[0] if changes else None)
    report = "\n".join(f"== {c.name}: {'ok' if c.ok else 'FAILED'}\n{c.output}" for c in checks)
    print(report)
    for unit, (score, rating) in scores.items():
        print(f"exposure {unit}: {score} {rating}")
    assert all(c.ok for c in checks), report
    assert set(scores) == {debcheck.DAEMON_UNIT, debcheck.GAME_UNIT}
    # what the units promise (README, units/*.service): the game locked down further than
    # the root daemon that manages units
    assert scores[debcheck.GAME_UNIT][0] < scores[debcheck.DAEMON_UNIT][0] <= 5.0, scores


def _free_port() -> int:
    """A port free for both UDP and TCP on this host (whose network the container shares,
    with other tests' game servers on the default ports)."""
    for _ in range(200):
        port = random.randint(40000, 59999)
        with contextlib.ExitStack() as stack:
            try:
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    sock = stack.enter_context(socket.socket(socket.AF_INET, kind))
                    sock.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port")


def _upgrade_deb(deb: Path, dest: Path) -> Path:
    """The same package as a newer version whose shipped conffile changed, so that dpkg has
    a real conffile question to answer on the upgrade."""
    tree = dest / "tree"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True)
    control = tree / "DEBIAN" / "control"
    lines = control.read_text().splitlines(keepends=True)
    version = next(x.split(":", 1)[1].strip() for x in lines if x.startswith("Version:"))
    new = version + UPGRADE_SUFFIX
    control.write_text(
        "".join(f"Version: {new}\n" if x.startswith("Version:") else x for x in lines)
    )
    conf = tree / "etc/warlock/warlockd.toml"
    conf.write_text(conf.read_text() + "# (a new upstream comment: the upgrade test)\n")
    sums = subprocess.run(
        ["md5sum", "etc/warlock/warlockd.toml"],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    md5 = tree / "DEBIAN" / "md5sums"
    md5.write_text(
        "".join(x for x in md5.read_text().splitlines(keepends=True) if "warlockd.toml" not in x)
        + sums
    )
    out = dest / f"warlockd_{new}_all.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zxz", "-b", str(tree), str(out)],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(tree)
    return out


@pytest.fixture
def machine(
    systemd_available: None, deb: Path, tmp_path: Path
) -> Iterator[tuple[Bookworm, str, str]]:
    """A booted clean bookworm with /debs holding the package and its upgrade."""
    started = time.monotonic()
    root = bookworm.cached_root()
    print(f"bookworm root {root} ready in {time.monotonic() - started:.1f} s")
    debs = tmp_path / "debs"
    debs.mkdir()
    shutil.copy(deb, debs / deb.name)
    upgrade = _upgrade_deb(deb, debs)
    debs.chmod(0o755)
    apt_cache = bookworm.CACHE / "apt"
    for sub in ("archives/partial", "lists/partial"):
        (apt_cache / sub).mkdir(parents=True, exist_ok=True)
    binds = [
        (debs, "/debs", True),
        (apt_cache / "archives", "/var/cache/apt/archives", False),
        (apt_cache / "lists", "/var/lib/apt/lists", False),
    ]
    with Bookworm(root, binds) as box:
        print(f"booted in {box.boot_seconds:.1f} s")
        yield box, f"/debs/{deb.name}", f"/debs/{upgrade.name}"


class Steps:
    """Timed, named steps; a failing assertion says which step and shows the journal."""

    def __init__(self, box: Bookworm) -> None:
        self.box = box
        self.t0 = time.monotonic()

    def __call__(self, name: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.1f} s] {name}")

    def journal(self) -> str:
        return self.box.sh("journalctl -b --no-pager -n 80 -o short-monotonic", check=False)


def _wait(pred: Callable[[], bool], timeout: float, what: str, steps: Steps) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{steps.journal()}")
        time.sleep(0.3)


def test_lifecycle_on_a_clean_bookworm(machine: tuple[Bookworm, str, str]) -> None:
    box, deb, upgrade = machine
    step = Steps(box)

    def active(unit: str) -> str:
        return box.sh(f"systemctl is-active {unit}", check=False)

    def main_pid(unit: str) -> int:
        return int(box.sh(f"systemctl show -P MainPID {unit}"))

    def game_unchanged(what: str) -> None:
        """The same process as before `what`, or say why not (systemd's own restarts, e.g.
        the watchdog, count in NRestarts; a restart by the package would not)."""
        now = main_pid(unit)
        if now != game_pid or active(unit) != "active":
            state = box.sh(f"systemctl show -p ActiveState,NRestarts,Result {unit}", check=False)
            log = box.sh(f"journalctl -b --no-pager -n 40 -u {unit} -u warlockd", check=False)
            raise AssertionError(
                f"{what} touched the game: MainPID {game_pid} -> {now}\n{state}\n{log}"
            )

    def apt(*args: str) -> str:
        result = box.run([*APT, *args], check=False, timeout=400)
        out = result.stdout + result.stderr
        assert result.returncode == 0, f"apt-get {' '.join(args)} failed:\n{out}"
        return out

    # -- install from Debian alone ------------------------------------------------------
    step("apt-get update")
    assert box.sh("ls /usr/lib/python3/dist-packages 2>/dev/null | wc -l") == "0"  # clean
    apt("update")
    step(f"apt-get install {deb}")
    out = apt("install", deb)
    assert "Setting up warlockd (" in out, out
    sources = box.sh("grep -h '^URIs:' /etc/apt/sources.list.d/*.sources")
    assert all("debian" in line for line in sources.splitlines()), sources
    # every installed package but ours comes from the Debian archive (apt says "local" for
    # one that no configured source has)
    local = box.sh("apt list --installed 2>/dev/null | grep -F ',local]' | cut -d/ -f1")
    assert local == "warlockd", f"installed but not from Debian: {local}"

    step("warlockd active and enabled")
    assert active("warlockd") == "active", step.journal()
    assert box.sh("systemctl is-enabled warlockd") == "enabled"
    assert box.sh("getent group warlock").startswith("warlock:")
    assert box.sh("stat -c '%a %U %G' /var/lib/warlock") == "755 root root"
    assert box.sh("stat -c '%a %U' /etc/warlock/warlockd.toml") == "640 root"
    assert box.sh("systemctl is-enabled game@.service", check=False) == "disabled"
    assert "usage" in box.sh("warlock --help; manage.py --help").lower()
    bus = "busctl call org.warlock.Manager1 /org/warlock/Manager1 org.warlock.Manager1"
    _wait(
        lambda: box.run(["sh", "-c", f"{bus} ListInstances"], check=False).returncode == 0,
        30,
        "warlockd's D-Bus API",
        step,
    )

    # -- a game instance ------------------------------------------------------------------
    step("warlock --create --app example")
    created = json.loads(
        box.sh(
            "warlock --create --app example --instance-name 'Package test' "
            f"--port game={_free_port()}"
        )
    )
    gid = created["id"]
    unit = f"game@{gid}.service"
    step("bash completion of commands and instance ids")
    tab = (
        "source /usr/share/bash-completion/completions/manage.py; COMP_WORDS=({words}); "
        'COMP_CWORD={n}; _warlock; echo "${{COMPREPLY[@]}}"'
    )
    assert box.run(["bash", "-c", tab.format(words="manage.py --get-se", n=1)]).stdout.split() == [
        "--get-services"
    ]
    ids = box.run(["bash", "-c", tab.format(words="warlock start -i ''", n=3)]).stdout.split()
    assert gid in ids, ids
    step("the instance's own manage.py, as a Warlock panel finds and runs it")
    path = created["path"]
    apps = box.sh('for f in /var/lib/warlock/*.app; do echo "$(basename $f .app):$(cat $f)"; done')
    assert apps == f"{EXAMPLE_GUID}.{gid}:{path}", apps
    helped = box.sh(f"{path}/manage.py --help")
    assert "Warlock Manager: 2.2.0" in helped and "╭─ Commands" in helped, helped
    services = json.loads(box.sh(f"{path}/manage.py --get-services"))
    assert list(services) == [f"game@{gid}"]
    assert box.sh(f"stat -c '%U %a' {path} {path}/manage.py").split() == ["root", "755"] * 2
    step(f"manage.py --instance {gid} --start")
    box.run(["manage.py", "--instance", gid, "--start"], timeout=90)
    assert active(unit) == "active", step.journal()
    print(box.sh(f"systemctl status --no-pager --lines=5 {unit}", check=False))
    services = json.loads(box.sh(f"manage.py --instance {gid} --get-services"))
    assert gid in json.dumps(services), services
    verify = box.run(
        [
            "systemd-analyze",
            "verify",
            "--man=no",
            "--recursive-errors=no",
            "warlockd.service",
            unit,
        ],
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    _wait(
        lambda: gid in box.sh(f"{bus} ListInstances", check=False),
        30,
        "warlockd to list the instance",
        step,
    )
    step("the HTTP API on 127.0.0.1:8077: warlock api-key create, GET /api/v1/instances")
    key = json.loads(box.sh("warlock api-key create --name package-test --scope read"))["key"]
    listed = json.loads(box.run(["python3", "-c", API_GET, "/api/v1/instances", key]).stdout)
    assert gid in [row["id"] for row in listed], listed
    refused = box.run(["python3", "-c", API_GET, "/api/v1/instances", "wlk_wrong"], check=False)
    assert refused.returncode == 1 and '"error"' in refused.stdout, refused.stdout
    step("the dashboard: its page, its modules and Debian's Chart.js served by the package")
    for path, marker in (
        ("/login", '<main id="main"'),
        ("/static/js/main.js", "import"),
        ("/static/style.css", "{"),
        ("/static/vendor/chart.min.js", "Chart"),
    ):
        page = box.run(["python3", "-c", API_GET, path, key]).stdout  # fmt: skip
        assert marker in page, f"{path}: {page[:200]}"
    box.run(["manage.py", "--instance", gid, "--enable"])
    wants = f"/etc/systemd/system/multi-user.target.wants/{unit}"
    assert box.sh(f"test -L {wants} && echo yes") == "yes"
    step("a schedule: its timer, and its job run by the packaged warlock")
    added = box.run(["warlock", "schedule", "add", "--instance", gid, "backup",
                     "--on-calendar", "*-*-* 05:00", "--keep", "3"]).stdout  # fmt: skip
    timer = json.loads(added)["timer"]
    job = timer.replace(".timer", ".service")

    def timer_runs(what: str) -> None:
        state = box.sh(f"systemctl show -P ActiveState,UnitFileState {timer}").split()
        next_run = box.sh(f"systemctl show -P NextElapseUSecRealtime {timer}")
        assert state == ["active", "enabled"] and next_run, f"{what}: {timer} {state}"

    timer_runs("added")
    assert timer in box.sh("systemctl list-timers --no-pager 'warlock-*'")
    box.run(["systemctl", "start", job], timeout=120)
    assert box.sh(f"ls {created['path']}/backups | grep -c 'tar.gz$'") == "1"
    # a second instance, stopped, in a directory of its own outside /var/lib/warlock
    other = json.loads(
        box.sh(f"warlock --create --app example --dir /srv/games/two --port game={_free_port()}")
    )
    game_pid = main_pid(unit)

    # -- bad input that must not trip a maintainer script ----------------------------------
    step("junk instance record and an edited conffile")
    box.sh(f"printf 'not = [toml\\n\\0\\377' > /var/lib/warlock/{EXAMPLE_GUID}.{JUNK_ID}.toml")
    box.sh("sed -i 's/^#interval = 10$/interval = 5/' /etc/warlock/warlockd.toml")
    assert box.sh("grep -c '^interval = 5$' /etc/warlock/warlockd.toml") == "1"

    # what `manage.py setup` from a checkout in /opt/warlockd writes (and enables): the
    # package moves these aside, or they would hide its own units
    etc = "/etc/systemd/system"
    checkout_daemon = daemon_unit((REPO / "units/warlockd.service").read_text(), Path("/opt/x"))
    box.run(["sh", "-c", f"cat > {etc}/warlockd.service"], input=checkout_daemon)
    box.run(["cp", "/lib/systemd/system/game@.service", f"{etc}/game@.service"])
    box.sh(f"ln -sfn {etc}/warlockd.service {etc}/multi-user.target.wants/warlockd.service")
    box.sh(f"ln -sfn {etc}/game@.service {wants}")

    step("reinstall (same version) over a checkout's units")
    daemon_pid = main_pid("warlockd")
    out = apt("install", "--reinstall", deb)
    assert f"warlockd: moved {etc}/warlockd.service" in out, out
    assert f"warlockd: moved {etc}/game@.service" in out, out
    assert box.sh(f"ls {etc}/*.warlock-checkout | wc -l") == "2"
    assert box.sh(f"readlink {etc}/multi-user.target.wants/warlockd.service {wants}") == (
        "/lib/systemd/system/warlockd.service\n/lib/systemd/system/game@.service"
    )
    assert box.sh("systemctl show -P FragmentPath warlockd") == (
        "/lib/systemd/system/warlockd.service"
    )
    assert "/usr/bin/warlockd" in box.sh("systemctl show -P ExecStart warlockd")
    assert box.sh("systemctl is-enabled warlockd") == "enabled"
    game_unchanged("the reinstall")
    timer_runs("the reinstall")
    assert active("warlockd") == "active", step.journal()
    box.sh(f"rm {etc}/*.warlock-checkout")

    # as an earlier warlockd might have rendered it: the upgrade's `warlock setup` rewrites it
    dropin = f"{etc}/{unit}.d/50-warlock.conf"
    rendered = box.sh(f"cat {dropin}")
    box.sh(f"sed -i 's/^TimeoutStopSec=.*/TimeoutStopSec=7/' {dropin}")

    step(f"upgrade to {upgrade}")
    daemon_pid = main_pid("warlockd")
    out = apt("install", upgrade)
    assert "warlockd.toml" in out, out  # dpkg kept the admin's version and said so
    assert f"rewrote the drop-in of {unit}" in out, out
    assert box.sh(f"cat {dropin}") == rendered
    assert box.sh(f"systemctl show -P NeedDaemonReload {unit}") == "no"
    assert box.sh("dpkg-query -W -f '${Version}' warlockd").endswith(UPGRADE_SUFFIX)
    game_unchanged("the upgrade")
    timer_runs("the upgrade")
    listed = json.loads(box.sh(f"warlock schedule list --instance {gid} --json"))
    assert [r["timer"] for r in listed] == [timer] and listed[0]["last_result"].startswith(
        "backed up"
    ), listed
    assert active("warlockd") == "active", step.journal()
    assert main_pid("warlockd") != daemon_pid, f"upgrade: warlockd not restarted\n{step.journal()}"
    assert box.sh("grep -c '^interval = 5$' /etc/warlock/warlockd.toml") == "1"
    assert box.sh("test -f /etc/warlock/warlockd.toml.dpkg-dist && echo yes") == "yes"
    assert gid in box.sh("warlock list --json")

    # -- remove: the daemon goes, the games and their data stay ----------------------------
    step("apt-get remove warlockd")
    apt("remove", "warlockd")
    assert active("warlockd") != "active"
    assert box.sh("test -e /usr/bin/warlock || echo gone") == "gone"
    game_unchanged("the remove")
    assert active(timer) == "inactive"  # its job (warlock) is gone with the package
    for kept in (
        f"/var/lib/warlock/{EXAMPLE_GUID}.{gid}.toml",
        f"/var/lib/warlock/{EXAMPLE_GUID}.{JUNK_ID}.toml",
        f"/var/lib/warlock/instances/{gid}",
        f"/etc/systemd/system/{unit}.d/50-warlock.conf",
        "/etc/warlock/warlockd.toml",
        "/srv/games/two",
        wants,
    ):
        assert box.sh(f"(test -e {kept} || test -L {kept}) && echo yes", check=False) == "yes", (
            f"{kept} is gone"
        )
    assert box.sh(f"getent passwd wl-{gid.replace('-', '')[:12]} >/dev/null && echo yes") == "yes"

    # -- purge: stop the running game, then nothing of warlockd is left -------------------
    step("apt-get purge warlockd (with the game running)")
    out = apt("purge", "warlockd")
    print(out)
    stopping = [x for x in out.splitlines() if x.startswith("warlockd: stopping game instances:")]
    assert stopping and unit in stopping[0], out
    assert "warlockd: removed instance user wl-" in out, out
    assert "warlockd: removed state directory" in out, out
    assert "/srv/games/two" in out, "the kept directory is not named"
    assert active(unit) != "active"
    assert box.sh(f"kill -0 {game_pid} 2>/dev/null && echo alive", check=False) == ""
    left = box.sh(f"ls -d {' '.join(OURS)} 2>/dev/null", check=False)
    assert left == "", f"left after purge: {left}"
    owned = box.run(["dpkg", "-S", *OURS], check=False)
    assert owned.returncode != 0 and owned.stdout == "", owned.stdout
    assert box.sh("dpkg-query -W -f '${db:Status-Status}' warlockd", check=False) in (
        "",
        "not-installed",
    )
    assert box.sh("getent passwd | grep '^wl-'", check=False) == ""
    assert (
        box.sh("ls -d /etc/systemd/system/game@* /etc/systemd/system/*.wants/game@*", check=False)
        == ""
    )
    assert box.sh("systemctl list-units --all --plain --no-legend 'game@*'", check=False) == ""
    assert box.sh("ls -d /etc/systemd/system/warlock-* /etc/systemd/system/*.wants/warlock-*",
                  check=False) == ""  # fmt: skip
    assert box.sh("test -d /srv/games/two && echo kept") == "kept"  # named, not deleted
    # Debian keeps system groups on purge
    assert box.sh("getent group warlock").startswith("warlock:")
    assert other["id"] != gid
    step("done")
