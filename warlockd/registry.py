"""The registry under /var/lib/warlock: the only writer of instance records.

Per instance, two files side by side, as Warlock panels expect:
`<guid>.<id>.app` holds the instance path (no trailing newline) and
`<guid>.<id>.toml` the full record (`<guid>.app` / `<guid>.toml` for `default`).
"""

from __future__ import annotations

import contextlib
import json
import os
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from . import fsutil
from .errors import CorruptRecord, InvalidInput, NotFound
from .model import DEFAULT_ID, Instance, InstanceId, parse_id, validate_guid
from .paths import Paths


class Problem(NamedTuple):
    """A file in the registry that could not be read as an instance."""

    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"


def _stem(guid: str, instance_id: str) -> str:
    return guid if instance_id == DEFAULT_ID else f"{guid}.{instance_id}"


def _parse_stem(stem: str) -> tuple[str, InstanceId] | None:
    guid, _, rest = stem.partition(".")
    try:
        validate_guid(guid)
        return guid, parse_id(rest or DEFAULT_ID)
    except InvalidInput:
        return None


INDEX = ".index.json"


def _names_a_game(path: str, games: str) -> bool:
    try:
        with open(path) as f:
            return f.read().startswith(games)
    except (OSError, UnicodeDecodeError):
        return False


class Registry:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.root = paths.state
        # each record file's (inode, mtime, size) as the last scan read it: what the
        # daemon's ready answers name (answers.py), so a changed record makes them stale
        self.signatures: dict[str, list[int]] = {}

    @contextmanager
    def lock(self) -> Iterator[None]:
        """The host-wide lock that serialises every change of state (and port allocation)."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o755)
        with fsutil.locked(self.paths.lock):
            yield

    def record_path(self, inst: Instance) -> Path:
        return self.root / f"{_stem(inst.app, inst.id)}.toml"

    def app_path(self, inst: Instance) -> Path:
        return self.root / f"{_stem(inst.app, inst.id)}.app"

    def _record_files(self) -> Iterator[Path]:
        try:
            names = sorted(p.name for p in self.root.iterdir())
        except FileNotFoundError:
            return
        for name in names:
            if name.endswith(".toml") and not name.startswith("."):
                yield self.root / name

    def _parse(self, path: Path) -> dict[str, Any]:
        try:
            return tomllib.loads(path.read_text())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise CorruptRecord(f"{path}: corrupt record: {e}") from None

    def _check(self, path: Path | str, data: dict[str, Any]) -> Instance:
        parsed = _parse_stem(os.path.basename(path)[: -len(".toml")])
        if parsed is None:
            raise CorruptRecord(f"{path}: not a record name (<guid>[.<id>].toml)")
        try:
            inst = Instance.from_dict(data)
        except InvalidInput as e:
            raise CorruptRecord(f"{path}: corrupt record: {e}") from None
        if (inst.app, inst.id) != parsed:
            raise CorruptRecord(f"{path}: record says {inst.app}.{inst.id}, its name does not")
        return inst

    def _read(self, path: Path) -> Instance:
        return self._check(path, self._parse(path))

    def scan(self) -> tuple[list[Instance], list[Problem]]:
        """Every readable instance, and every file that is not one; a bad file hides no other.

        Parsing TOML is the cost of listing 200 instances, so parsed records are kept in
        `.index.json`, each under its file's (inode, mtime, size): every save is a rename
        to a new inode, so a changed record, written by us or edited by hand, is parsed again.
        """
        try:
            names = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return [], []
        index = self._load_index()
        fresh: dict[str, list[Any]] = {}
        found: list[Instance] = []
        problems: list[Problem] = []
        root = str(self.root)
        for name in names:
            if not name.endswith(".toml") or name.startswith("."):
                continue
            path = f"{root}/{name}"  # a str: a Path per record is a tenth of listing 200
            try:
                st = os.stat(path)
                key = [st.st_ino, st.st_mtime_ns, st.st_size]
                cached = index.get(name)
                data = cached[3] if cached and cached[:3] == key else self._parse(Path(path))
                found.append(self._check(path, data))
                fresh[name] = [*key, data]
            except FileNotFoundError:
                continue  # removed while we looked
            except CorruptRecord as e:
                problems.append(Problem(name, e.message.split(": ", 1)[-1]))
        records = set(fresh) | {p.file for p in problems}
        games = f"{root}/games/"
        for name in names:
            stem = name[: -len(".app")]
            stray = name.endswith(".app") and f"{stem}.toml" not in records and _parse_stem(stem)
            if stray and not _names_a_game(f"{root}/{name}", games):  # a game's, in that layout
                problems.append(Problem(name, "registration without a record"))
        if fresh != index:
            self._save_index(fresh)
        self.signatures = {name: entry[:3] for name, entry in fresh.items()}
        return found, problems

    def _load_index(self) -> dict[str, list[Any]]:
        try:
            data = json.loads((self.root / INDEX).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save_index(self, fresh: dict[str, list[Any]]) -> None:
        # A cache: losing it costs one slow listing, so no fsync and no lock.
        tmp = self.root / f"{INDEX}.{os.getpid()}.tmp"
        try:
            tmp.write_text(json.dumps(fresh))
            os.chmod(tmp, 0o640)
            os.replace(tmp, self.root / INDEX)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def all(self) -> list[Instance]:
        return self.scan()[0]

    def get(self, instance_id: InstanceId) -> Instance:
        for path in self._record_files():
            parsed = _parse_stem(path.name[: -len(".toml")])
            if parsed and parsed[1] == instance_id:
                return self._read(path)
        raise NotFound(f"no instance {instance_id}", hint="`manage.py list` shows the instances")

    def resolve(self, instance_id: InstanceId | None) -> Instance:
        """The named instance; without a name, `default` if it exists, else an error listing ids."""
        if instance_id:
            return self.get(instance_id)
        try:
            return self.get(InstanceId(DEFAULT_ID))
        except NotFound:
            ids = [i.id for i in self.all()]
            raise InvalidInput(
                "no --instance given and there is no default instance",
                hint="instances: " + (", ".join(ids) if ids else "none; create one with --create"),
            ) from None

    def exists(self, instance_id: InstanceId) -> bool:
        try:
            self.get(instance_id)
        except NotFound:
            return False
        except CorruptRecord:
            return True
        return True

    def save(self, inst: Instance) -> list[str]:
        """Record first, then the registrations panels read (registrations.py); call under
        lock(). Returns what was done to the registrations."""
        import toml  # only writers pay for it

        from . import registrations

        fsutil.atomic_write(self.record_path(inst), toml.dumps(inst.to_dict()), 0o640)
        return registrations.sync(self.paths, self.all())

    def remove(self, inst: Instance) -> None:
        """Registration first, so a panel never sees an instance without a record; under lock()."""
        from . import registrations

        app = self.app_path(inst)
        if app.exists() and app.read_text() == inst.path:  # its own, in either layout
            fsutil.remove(app)
        fsutil.remove(self.record_path(inst))
        registrations.sync(self.paths, self.all())
