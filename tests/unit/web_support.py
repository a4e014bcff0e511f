"""The HTTP API over a World: a daemon that never runs its loop (the tests pump systemd's
signals into it), the FastAPI app built as warlockd.service builds it, a client, and keys of
every kind. Fast argon2 parameters: the tests log in often."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from tests.unit.support import ID_A, ID_B, World, tree
from warlockd.actions.create import CreateRequest, create
from warlockd.config import Config
from warlockd.daemon.loop import Daemon
from warlockd.metrics import Sampler
from warlockd.web import WebFiles
from warlockd.web.keys import KeyStore
from warlockd.web.operations import InProcess
from warlockd.web.principal import Scope
from warlockd.web.server import WebServer
from warlockd.web.settings import ApiSettings
from warlockd.web.users import UserStore, make_hasher

BASE = "/api/v1"
CHANGES = {"start", "stop", "restart", "enable", "disable", "reload", "reset_failed",
           "enqueue_start", "start_transient"}  # fmt: skip
ORIGIN = "http://127.0.0.1:8077"
PASSWORD = "correct horse battery"


@dataclass
class Api:
    world: World
    daemon: Daemon
    server: WebServer
    client: TestClient
    keys: dict[str, str] = field(default_factory=dict)  # read, operate, admin, only-a...

    def headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[key]}"}

    def call(self, method: str, path: str, key: str | None = "admin", **kw: Any) -> Any:
        headers = self.headers(key) if key else {}
        headers |= kw.pop("headers", {})
        return self.client.request(method, path, headers=headers, follow_redirects=False, **kw)

    def pump(self) -> None:
        """One turn of the daemon's loop over what (in-memory) systemd signalled."""
        for change in self.world.mem.changes():
            self.daemon.apply(change.unit, change.props)

    def wait(self, op_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """An operation, once it is done or failed."""
        deadline = time.monotonic() + timeout
        while True:
            op: dict[str, Any] = self.call("GET", f"{BASE}/operations/{op_id}").json()
            if op["state"] in ("done", "failed") or time.monotonic() > deadline:
                return op
            time.sleep(0.02)

    def state(self) -> dict[str, Any]:
        """What a refused request must leave as it was: the instances' files, units,
        users, keys and accounts, and every call made to systemd. (Not the event log: it
        records refused requests too; nor a key's last use.)"""
        files = {p: v for p, v in tree(self.world.root).items() if not _bookkeeping(Path(p))}
        snap = self.world.snapshot()
        snap["calls"] = [c for c in snap["calls"] if c[0] in CHANGES]  # looking changes nothing
        keys = [(k.id, k.revoked_at) for k in KeyStore(self.files.api_keys).list(True)]
        return snap | {"files": files, "keys": keys}

    @property
    def files(self) -> WebFiles:
        return WebFiles.under(self.world.paths.state)


_LOGS = ("warlock.db", "api-keys.json", ".api-keys.json")  # the event log, keys' last use


def _bookkeeping(path: Path) -> bool:
    """Not state: the logs, and locks (a refused set-config may take its lock first)."""
    return (
        path.name.startswith(_LOGS) or path.name.endswith(".lock") or path.name == "locks"
        or "locks" in path.parent.parts
    )  # fmt: skip


def make_api(world: World, tmp_path: Path, settings: ApiSettings | None = None) -> Api:
    world.paths.state.mkdir(parents=True, exist_ok=True)
    for iid, name in ((ID_A, "alpha"), (ID_B, "bravo")):
        create(world.host, CreateRequest("example", name, iid))
    daemon = Daemon(world.host)
    daemon.run_dir.mkdir(exist_ok=True)
    daemon.config = Config(prometheus_dir=None)
    daemon.sampler = Sampler(cgroup_root=tmp_path / "cgroup")
    daemon.open_store()
    world.mem.watch("game@")
    daemon.load_registry(first=True)
    server = WebServer(daemon, settings or ApiSettings(), recheck=0.3)
    daemon.web = server
    files = WebFiles.under(world.paths.state)
    users = UserStore(files.users, hasher=make_hasher(1, 8, 1))
    users.add("root", PASSWORD, Scope.ADMIN)
    users.add("viewer", PASSWORD, Scope.READ)
    app = server.app(users=users, runner=InProcess(world.host))
    client = TestClient(app, base_url=ORIGIN, raise_server_exceptions=False)
    api = Api(world, daemon, server, client)
    store = KeyStore(files.api_keys)
    for name, scope, only in (
        ("read", Scope.READ, None),
        ("operate", Scope.OPERATE, None),
        ("admin", Scope.ADMIN, None),
        ("only-a", Scope.ADMIN, [ID_A]),
    ):
        api.keys[name] = store.create(name, scope, only)[1]
    _, revoked = store.create("revoked", Scope.ADMIN)
    store.revoke("revoked")
    api.keys["revoked"] = revoked
    api.keys["wrong"] = "wlk_" + "0" * 16 + "_" + "A" * 43
    return api
