"""The D-Bus API against a real private dbus-daemon, with real clients (busctl, pydbus).

Skipped when dbus-daemon or pydbus/python3-gi is missing, unless WARLOCK_REQUIRE_SYSTEMD=1.
The policy tests also need root (to run clients as other users with setpriv).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.unit.support import ID_A, ID_B, REPO
from warlockd import __version__
from warlockd.daemon.dbus_api import (
    BUS_NAME,
    ERROR_FAILED,
    ERROR_INVALID_INPUT,
    ERROR_NOT_FOUND,
    INTERFACE,
    OBJECT_PATH,
    InstanceRow,
    Manager1,
    dbus_error,
)
from warlockd.daemon.dbus_server import ApiServer
from warlockd.errors import InvalidInput, NotFound, SystemdError, WarlockError
from warlockd.model import parse_id

try:
    import pydbus
    from gi.repository import Gio, GLib

    _IMPORT_ERROR = ""
except ImportError as exc:  # pragma: no cover - Debian: python3-pydbus, python3-gi
    _IMPORT_ERROR = f"pydbus or python3-gi is missing: {exc}"

POLICY = REPO / "data" / "org.warlock.Manager1.conf"
ID_UNKNOWN = "2d7e9c74-5b5a-4da0-9f21-7c3e4f5a6b82"
ID_BROKEN = "3e8fad85-6c6b-4eb1-8a32-8d4f5a6b7c93"
ALLOW_ALL = """
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>"""
# The default context of Debian's /usr/share/dbus-1/system.conf (dbus 1.14).
SYSTEM_DEFAULT = """
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>"""


def _require_dbus() -> None:
    reason = _IMPORT_ERROR or ("" if shutil.which("dbus-daemon") else "dbus-daemon is missing")
    if reason:
        if os.environ.get("WARLOCK_REQUIRE_SYSTEMD") == "1":
            pytest.fail(f"WARLOCK_REQUIRE_SYSTEMD=1 but {reason}", pytrace=False)
        pytest.skip(reason)


class BusDaemon:
    """A private dbus-daemon listening on `<dir>/bus`, restartable at the same address."""

    def __init__(self, directory: Path, policy: str, includes: tuple[Path, ...] = ()) -> None:
        self.socket = directory / "bus"
        self.config = directory / "bus.conf"
        self.log = directory / "bus.log"
        included = "".join(f"\n  <include>{path}</include>" for path in includes)
        self.config.write_text(
            "<busconfig>\n"
            f"  <listen>unix:path={self.socket}</listen>\n"
            "  <auth>EXTERNAL</auth>"
            f"{policy}{included}\n</busconfig>\n"
        )
        self.proc: subprocess.Popen[str] | None = None
        self.address = ""

    def start(self) -> None:
        self.socket.unlink(missing_ok=True)
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                ["dbus-daemon", f"--config-file={self.config}", "--print-address", "--nofork"],
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                text=True,
            )
        assert self.proc.stdout is not None
        self.address = self.proc.stdout.readline().strip()
        assert self.address, f"dbus-daemon did not start: {self.log.read_text()}"

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()
            assert self.proc.stdout is not None
            self.proc.stdout.close()


class FakeBackend:
    """Instances in a dict; Start can be held at a gate to test concurrency."""

    def __init__(self) -> None:
        self.status = {ID_A: "stopped", ID_B: "running", ID_BROKEN: "crashed"}
        self.calls: list[tuple[str, str]] = []
        self.gate: threading.Event | None = None
        self.waiting = threading.Semaphore(0)

    def list_instances(self) -> list[InstanceRow]:
        return [
            (i, f"server {i[:4]}", "example", s, f"game@{i}.service")
            for i, s in self.status.items()
        ]

    def _find(self, instance_id: str) -> str:
        if instance_id not in self.status:
            raise NotFound(f"no instance {instance_id}", hint="see manage.py list")
        return instance_id

    def get_instance(self, instance_id: str) -> str:
        self.calls.append(("get", instance_id))
        return json.dumps({"id": self._find(instance_id), "status": self.status[instance_id]})

    def start(self, instance_id: str) -> None:
        self.calls.append(("start", instance_id))
        if self.gate is not None:
            self.waiting.release()
            assert self.gate.wait(20)
        self.status[self._find(instance_id)] = "running"

    def stop(self, instance_id: str) -> None:
        self.calls.append(("stop", instance_id))
        self.status[self._find(instance_id)] = "stopped"

    def restart(self, instance_id: str) -> None:
        self.calls.append(("restart", instance_id))
        if self._find(instance_id) == ID_BROKEN:
            raise SystemdError("game@x.service: job failed (result: failed)", hint="journalctl")
        self.status[instance_id] = "running"

    def backup(self, instance_id: str, max_backups: int | None) -> str:
        self.calls.append(("backup", instance_id))
        return json.dumps({"file": f"{self._find(instance_id)}.tar.gz", "keep": max_backups})

    def get_metrics(self, instance_id: str) -> str:
        self.calls.append(("metrics", instance_id))
        if self._find(instance_id) == ID_BROKEN:
            raise KeyError("cpu")  # a bug, not a WarlockError
        return json.dumps({"id": instance_id, "cpu": 1.5})


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[BusDaemon]:
    _require_dbus()
    daemon = BusDaemon(tmp_path, ALLOW_ALL)
    daemon.start()
    yield daemon
    daemon.kill()


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def server(bus: BusDaemon, backend: FakeBackend) -> Iterator[ApiServer]:
    api = ApiServer(backend, bus_address=bus.address, action_workers=2)
    api.start()
    yield api
    if backend.gate is not None:
        backend.gate.set()
    api.stop()


@contextmanager
def connection(address: str) -> Iterator[Any]:
    client = pydbus.connect(address)
    try:
        yield client
    finally:
        client.con.close_sync(None)


@pytest.fixture
def proxy(server: ApiServer, bus: BusDaemon) -> Iterator[Any]:
    with connection(bus.address) as client:
        yield client.get(BUS_NAME, OBJECT_PATH)


def remote_error(call: Callable[[], object]) -> tuple[str, str]:
    with pytest.raises(GLib.Error) as info:
        call()
    name: str = Gio.DBusError.get_remote_error(info.value)
    message: str = info.value.message
    return name, message.removeprefix(f"GDBus.Error:{name}: ")


def wait_for(condition: Callable[[], bool], context: Any = None, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        if context is not None:
            context.iteration(False)
        time.sleep(0.01)


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


# Pure: no bus.


def test_warlock_errors_map_to_org_warlock_error_names_with_one_line() -> None:
    assert dbus_error(NotFound("no instance x", hint="see list")) == (
        ERROR_NOT_FOUND,
        "no instance x (hint: see list)",
    )
    assert dbus_error(InvalidInput("bad\nid"))[0] == ERROR_INVALID_INPUT
    assert dbus_error(InvalidInput("bad\nid"))[1] == "bad id"
    assert dbus_error(SystemdError("job failed")) == (ERROR_FAILED, "job failed")
    name, message = dbus_error(KeyError("cpu"))
    assert name == ERROR_FAILED
    assert message.startswith("internal error: KeyError")


def test_manager_validates_ids_before_the_backend(backend: FakeBackend) -> None:
    with pytest.raises(InvalidInput):
        Manager1(backend).Start("../../etc/passwd")
    with pytest.raises(InvalidInput):
        Manager1(backend).Backup("../../etc/passwd", 1)
    assert backend.calls == []


def test_importing_the_modules_does_not_import_glib() -> None:
    code = (
        "import sys, warlockd.daemon.dbus_api, warlockd.daemon.dbus_server; "
        "print(any(m in sys.modules for m in ('gi', 'pydbus')))"
    )
    out = run(sys.executable, "-c", code)
    assert out.stdout.strip() == "False", out.stderr


# A private bus, allow-all policy.


def test_busctl_lists_the_instances(server: ApiServer, bus: BusDaemon) -> None:
    out = run(
        "busctl",
        f"--address={bus.address}",
        "call",
        BUS_NAME,
        OBJECT_PATH,
        INTERFACE,
        "ListInstances",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("a(sssss) 3 ")
    assert f'"{ID_A}" "server {ID_A[:4]}" "example" "stopped" "game@{ID_A}.service"' in out.stdout


def test_every_method_answers_through_a_pydbus_proxy(proxy: Any, backend: FakeBackend) -> None:
    rows = proxy.ListInstances()
    assert (ID_B, f"server {ID_B[:4]}", "example", "running", f"game@{ID_B}.service") in rows
    assert json.loads(proxy.GetInstance(ID_A)) == {"id": ID_A, "status": "stopped"}
    assert proxy.Start(ID_A) is None
    assert backend.status[ID_A] == "running"
    proxy.Stop(ID_A)
    assert backend.status[ID_A] == "stopped"
    proxy.Restart(ID_A)
    assert backend.status[ID_A] == "running"
    assert json.loads(proxy.GetMetrics(ID_A)) == {"id": ID_A, "cpu": 1.5}
    assert json.loads(proxy.Backup(ID_A, 3)) == {"file": f"{ID_A}.tar.gz", "keep": 3}
    assert json.loads(proxy.Backup(ID_A, 0))["keep"] is None  # 0: keep every backup
    calls = [c[0] for c in backend.calls]
    assert calls == ["get", "start", "stop", "restart", "metrics", "backup", "backup"]


def test_version_is_a_read_only_property(proxy: Any, bus: BusDaemon) -> None:
    assert proxy.Version == __version__
    out = run(
        "busctl",
        f"--address={bus.address}",
        "get-property",
        BUS_NAME,
        OBJECT_PATH,
        INTERFACE,
        "Version",
    )
    assert out.stdout.strip() == f's "{__version__}"'
    out = run(
        "busctl",
        f"--address={bus.address}",
        "set-property",
        BUS_NAME,
        OBJECT_PATH,
        INTERFACE,
        "Version",
        "s",
        "9",
    )
    assert out.returncode != 0
    assert proxy.Version == __version__


def test_an_unknown_instance_is_org_warlock_error_not_found(proxy: Any, bus: BusDaemon) -> None:
    for call in (proxy.GetInstance, proxy.Start, proxy.Stop, proxy.Restart, proxy.GetMetrics):
        name, message = remote_error(partial(call, ID_UNKNOWN))
        assert (name, message) == (
            ERROR_NOT_FOUND,
            f"no instance {ID_UNKNOWN} (hint: see manage.py list)",
        )
    out = run(
        "dbus-send",
        f"--bus={bus.address}",
        "--print-reply",
        f"--dest={BUS_NAME}",
        OBJECT_PATH,
        f"{INTERFACE}.Start",
        f"string:{ID_UNKNOWN}",
    )
    assert out.returncode != 0
    assert f"Error {ERROR_NOT_FOUND}: no instance {ID_UNKNOWN}" in out.stderr


def test_an_invalid_id_is_rejected_before_the_backend(proxy: Any, backend: FakeBackend) -> None:
    for bad in ("../../etc", "DEFAULT", ID_A.upper(), "a\nb", ""):
        name, message = remote_error(partial(proxy.Start, bad))
        assert name == ERROR_INVALID_INPUT
        assert message.startswith("invalid instance id")
        assert "\n" not in message
    assert backend.calls == []


def test_backend_failures_are_org_warlock_error_failed(proxy: Any) -> None:
    name, message = remote_error(lambda: proxy.Restart(ID_BROKEN))
    assert (name, message) == (
        ERROR_FAILED,
        "game@x.service: job failed (result: failed) (hint: journalctl)",
    )
    name, message = remote_error(lambda: proxy.GetMetrics(ID_BROKEN))
    assert name == ERROR_FAILED
    assert message.startswith("internal error: KeyError: 'cpu'")
    assert proxy.ListInstances()  # the server carries on


def subscribe_and_emit(server: ApiServer, address: str, *ids: str) -> list[tuple[str, str]]:
    """Emit InstanceChanged(id, "running") for each id, each from its own thread; return all
    that a subscriber received, duplicates included."""
    got: list[tuple[str, str]] = []
    context = GLib.MainContext()
    context.push_thread_default()  # pydbus delivers signals on the subscribing thread's context
    try:
        with connection(address) as client:
            proxy = client.get(BUS_NAME, OBJECT_PATH)
            proxy.InstanceChanged.connect(lambda *args: got.append(args))
            client.dbus.GetId()  # a round trip: the bus has the match rule before we emit
            for instance_id in ids:
                threading.Thread(
                    target=server.emit_changed, args=(parse_id(instance_id), "running")
                ).start()
            wait_for(lambda: len(got) >= len(ids), context)
            assert proxy.Version == __version__  # the server sent any duplicate before this
            while context.iteration(False):
                pass
    finally:
        context.pop_thread_default()
    return sorted(got)


def test_instance_changed_reaches_a_subscriber(server: ApiServer, bus: BusDaemon) -> None:
    assert subscribe_and_emit(server, bus.address, ID_A, ID_B) == [
        (ID_A, "running"),
        (ID_B, "running"),
    ]
    with pytest.raises(InvalidInput):  # emit_changed takes a checked InstanceId only
        server.emit_changed(parse_id("not-an-id"), "running")


def test_queries_answer_while_starts_are_in_progress(
    server: ApiServer, bus: BusDaemon, backend: FakeBackend
) -> None:
    backend.gate = threading.Event()
    results: list[object] = []

    def start(instance_id: str) -> None:
        with connection(bus.address) as client:
            results.append(client.get(BUS_NAME, OBJECT_PATH).Start(instance_id))

    # Three Starts with two action workers: two wait in the backend, one in the queue.
    callers = [threading.Thread(target=start, args=(i,)) for i in (ID_A, ID_B, ID_A)]
    for caller in callers:
        caller.start()
    assert backend.waiting.acquire(timeout=5)
    assert backend.waiting.acquire(timeout=5)
    with connection(bus.address) as client:
        proxy = client.get(BUS_NAME, OBJECT_PATH)
        began = time.monotonic()
        assert len(proxy.ListInstances()) == 3
        assert json.loads(proxy.GetInstance(ID_B))["status"] == "running"
        assert proxy.Version == __version__
        assert time.monotonic() - began < 2
    assert results == []
    backend.gate.set()
    for caller in callers:
        caller.join(10)
    assert results == [None, None, None]


def test_stop_releases_the_name_and_ends_the_thread(server: ApiServer, bus: BusDaemon) -> None:
    thread = server.thread
    assert thread is not None and thread.is_alive()
    server.stop()
    assert not thread.is_alive()
    assert server.thread is None
    with connection(bus.address) as client:
        assert not client.dbus.NameHasOwner(BUS_NAME)
        server.start()  # and it can publish again
        assert client.get(BUS_NAME, OBJECT_PATH).Version == __version__


def test_a_second_server_is_refused_with_a_hint(server: ApiServer, bus: BusDaemon) -> None:
    other = ApiServer(FakeBackend(), bus_address=bus.address)
    with pytest.raises(WarlockError) as info:
        other.start()
    assert info.value.message.startswith(f"cannot own {BUS_NAME}")
    assert info.value.hint is not None and "another warlockd" in info.value.hint
    assert other.thread is None


def test_an_unreachable_bus_is_reported_with_a_hint(tmp_path: Path) -> None:
    _require_dbus()
    api = ApiServer(FakeBackend(), bus_address=f"unix:path={tmp_path}/nothing")
    with pytest.raises(WarlockError, match="cannot connect to the bus at"):
        api.start()


def test_a_bus_restart_is_detected_and_reconnect_publishes_again(
    bus: BusDaemon, backend: FakeBackend
) -> None:
    lost = threading.Event()
    api = ApiServer(backend, bus_address=bus.address, on_disconnect=lost.set)
    api.start()
    try:
        bus.kill()
        assert lost.wait(5)
        assert not api.connected
        api.emit_changed(ID_A, "running")  # dropped, not raised
        bus.start()
        api.reconnect()
        assert api.connected
        assert subscribe_and_emit(api, bus.address, ID_B) == [(ID_B, "running")]
        with connection(bus.address) as client:
            assert client.get(BUS_NAME, OBJECT_PATH).Start(ID_A) is None
        assert backend.status[ID_A] == "running"
    finally:
        api.stop()


# The shipped policy file, on a bus with the system bus's default policy.

HELPER = """
import sys
import pydbus
from gi.repository import Gio, GLib

context = GLib.MainContext()
context.push_thread_default()
bus = pydbus.connect(sys.argv[1])
got = []
bus.subscribe(iface="org.warlock.Manager1", signal="InstanceChanged",
              signal_fired=lambda *args: got.append(args))
try:
    bus.con.call_sync("org.warlock.Manager1", "/org/warlock/Manager1", "org.warlock.Manager1",
                      "ListInstances", None, None, 0, -1, None)
    print("call ok", flush=True)
except GLib.Error as exc:
    print("call", Gio.DBusError.get_remote_error(exc), flush=True)
sys.stdin.readline()  # the test has seen the signal reach root's subscriber
bus.dbus.GetId()  # anything routed to us before this reply is now in our queue
while context.iteration(False):
    pass
print("signal", "got" if got else "none", flush=True)
"""


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory other users can reach (pytest's tmp_path is 0700)."""
    if os.geteuid() != 0:
        pytest.skip("the policy tests run clients as other users: they need root")
    _require_dbus()
    directory = Path(tempfile.mkdtemp(prefix="warlock-dbus-"))
    directory.chmod(0o755)
    # Other users run code from here, not from the checkout: it may sit in a directory
    # only root can enter (a build tree in a 0700 mktemp -d, a home directory).
    shutil.copytree(REPO / "warlockd", directory / "py" / "warlockd",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    subprocess.run(["chmod", "-R", "a+rX", str(directory / "py")], check=True)
    yield directory
    shutil.rmtree(directory)


# What other users run: Debian's interpreter (it has pydbus and gi; a virtualenv or pyenv
# one may be where they cannot reach).
OTHER_PYTHON = "/usr/bin/python3"


def as_user(
    user: str, *argv: str, stdin: str = "", pythonpath: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """argv as `user`; with `pythonpath`, the copy of warlockd there (see shared_dir)."""
    entry = pwd.getpwnam(user)
    return subprocess.run(
        ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd="/",
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(pythonpath or "/nonexistent"),
            "PYTHONDONTWRITEBYTECODE": "1",
        },
    )


def client_as(user: str, bus: BusDaemon, server: ApiServer) -> list[str]:
    """Run HELPER as `user`: can it call ListInstances, does it receive InstanceChanged?"""
    got: list[object] = []
    context = GLib.MainContext()
    context.push_thread_default()
    try:
        with connection(bus.address) as root:
            root.subscribe(
                iface=INTERFACE,
                signal="InstanceChanged",
                signal_fired=lambda *args: got.append(args),
            )
            root.dbus.GetId()
            entry = pwd.getpwnam(user)
            helper = subprocess.Popen(
                [
                    "setpriv",
                    f"--reuid={entry.pw_uid}",
                    f"--regid={entry.pw_gid}",
                    "--clear-groups",
                    OTHER_PYTHON,
                    "-c",
                    HELPER,
                    bus.address,
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd="/",
            )
            assert helper.stdin is not None and helper.stdout is not None
            call = helper.stdout.readline().strip()
            server.emit_changed(ID_A, "running")
            wait_for(lambda: bool(got), context)
            out, _ = helper.communicate("go\n", timeout=30)
    finally:
        context.pop_thread_default()
    return [call, out.strip()]


@pytest.fixture
def policy_bus(shared_dir: Path) -> Iterator[BusDaemon]:
    daemon = BusDaemon(shared_dir, SYSTEM_DEFAULT, (POLICY,))
    daemon.start()
    yield daemon
    daemon.kill()


def test_policy_lets_root_own_the_name_call_and_listen(policy_bus: BusDaemon) -> None:
    api = ApiServer(FakeBackend(), bus_address=policy_bus.address)
    api.start()
    try:
        out = run(
            "busctl",
            f"--address={policy_bus.address}",
            "call",
            BUS_NAME,
            OBJECT_PATH,
            INTERFACE,
            "ListInstances",
        )
        assert out.returncode == 0, out.stderr
        assert client_as("root", policy_bus, api) == ["call ok", "signal got"]
    finally:
        api.stop()


def test_policy_shuts_out_a_user_outside_group_warlock(policy_bus: BusDaemon) -> None:
    assert "nobody" not in (m for g in _groups_named("warlock") for m in g)
    api = ApiServer(FakeBackend(), bus_address=policy_bus.address)
    api.start()
    try:
        denied = "org.freedesktop.DBus.Error.AccessDenied"
        assert client_as("nobody", policy_bus, api) == [f"call {denied}", "signal none"]
        out = as_user(
            "nobody",
            "busctl",
            f"--address={policy_bus.address}",
            "introspect",
            BUS_NAME,
            OBJECT_PATH,
        )
        assert out.returncode != 0
    finally:
        api.stop()
    code = (
        "import sys\nfrom warlockd.daemon.dbus_server import ApiServer\n"
        "try:\n    ApiServer(None, bus_address=sys.argv[1]).start()\n"
        "except Exception as exc:\n    print(exc.message); print(exc.hint)\n"
    )
    readable = policy_bus.socket.parent / "py"
    out = as_user("nobody", OTHER_PYTHON, "-c", code, policy_bus.address, pythonpath=readable)
    message, hint = out.stdout.splitlines()
    assert message.startswith(f"the bus policy does not allow this user to own {BUS_NAME}")
    assert "/usr/share/dbus-1/system.d" in hint


def test_policy_lets_members_of_the_group_call_and_listen(shared_dir: Path) -> None:
    # dbus-daemon looks group members up in the user database and this host has no
    # `warlock` group to put a test user in: the same file with the group renamed to
    # nobody's primary group stands in for it, and `daemon` (not in it) stays out.
    policy = shared_dir / "policy.conf"
    policy.write_text(POLICY.read_text().replace('group="warlock"', 'group="nogroup"'))
    assert policy.read_text().count('group="nogroup"') == 1
    daemon = BusDaemon(shared_dir, SYSTEM_DEFAULT, (policy,))
    daemon.start()
    api = ApiServer(FakeBackend(), bus_address=daemon.address)
    try:
        api.start()
        assert client_as("nobody", daemon, api) == ["call ok", "signal got"]
        denied = "org.freedesktop.DBus.Error.AccessDenied"
        assert client_as("daemon", daemon, api) == [f"call {denied}", "signal none"]
    finally:
        api.stop()
        daemon.kill()


def _groups_named(name: str) -> list[list[str]]:
    import grp

    return [g.gr_mem for g in grp.getgrall() if g.gr_name == name]
