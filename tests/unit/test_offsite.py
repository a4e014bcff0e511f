"""Off-site backups through a real restic (Debian's 0.14): local repositories, and one on
an SFTP-only OpenSSH server started for the test on a free localhost port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.support import ID_A, ID_B
from warlockd import offsite
from warlockd.errors import InvalidInput, NotFound, WarlockError
from warlockd.offsite import OffsiteSettings

pytestmark = pytest.mark.skipif(
    shutil.which("restic") is None, reason="restic is not installed (apt install restic)"
)
ROOT = os.geteuid() == 0
NOBODY = 65534
SSHD = Path("/usr/sbin/sshd")


def settings_for(
    tmp_path: Path, repository: str, sftp_command: str | None = None, restic: str = "restic"
) -> OffsiteSettings:
    password = tmp_path / "offsite.password"
    if not password.exists():
        password.write_text("correct horse battery staple\n")
        password.chmod(0o600)
    return OffsiteSettings(
        repository, password, sftp_command=sftp_command, cache_dir=tmp_path / "cache", restic=restic
    )


@pytest.fixture
def repo(tmp_path: Path) -> OffsiteSettings:
    s = settings_for(tmp_path, str(tmp_path / "repo"))
    offsite.init(s)
    return s


def make_instance(root: Path, big: int = 4 << 20) -> Path:
    """An instance directory owned by its user (nobody, when we are root): a world of
    incompressible region files and small JSON files, plus what a backup leaves out."""
    (root / "world" / "region").mkdir(parents=True)
    (root / "world" / "players").mkdir()
    for i in range(4):
        (root / "world" / "region" / f"r.{i}.0.mca").write_bytes(os.urandom(big))
    for i in range(200):
        (root / "world" / "players" / f"{i}.json").write_text(f'{{"id": {i}, "hp": 20}}' * 40)
    (root / "level.dat").write_bytes(b"\x0a" * 3000)
    os.symlink("/etc/shadow", root / "world" / "shadow")
    os.mkfifo(root / "console")
    if ROOT:
        for p in [root, *root.rglob("*")]:
            os.lchown(p, NOBODY, NOBODY)
    return root


def tree(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every file and directory under root: mode and bytes; links and FIFOs left out."""
    found: dict[str, tuple[int, bytes | None]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            st = p.lstat()
            if p.is_symlink() or not (p.is_file() or p.is_dir()):
                continue
            data = p.read_bytes() if p.is_file() else None
            found[str(p.relative_to(root))] = (st.st_mode & 0o7777, data)
    return found


def test_init_is_idempotent(tmp_path: Path) -> None:
    s = settings_for(tmp_path, str(tmp_path / "repo"))
    assert offsite.init(s) is True
    assert offsite.init(s) is False  # one was there, and our password opens it
    offsite.check(s)


def test_a_second_backup_after_a_small_change_adds_little(
    repo: OffsiteSettings, tmp_path: Path
) -> None:
    root = make_instance(tmp_path / "inst", big=6 << 20)
    progress: list[tuple[int, int, float | None]] = []
    first = offsite.backup(
        repo, ID_A, root, ["world", "level.dat"], on_progress=lambda *a: progress.append(a)
    )
    assert first.size and first.size > 24 << 20 and first.added and first.added > 24 << 20
    assert progress[-1][0] == progress[-1][1] == first.size  # the tar size was foreseen
    (root / "world" / "players" / "7.json").write_text('{"id": 7, "hp": 19}')
    second = offsite.backup(repo, ID_A, root, ["world", "level.dat"])
    assert second.size and second.added is not None
    # restic's chunks are ~1 MiB (0.5 to 8): the change costs a chunk or two, not the tree
    assert second.added < second.size // 4, (second.added, second.size)
    assert second.time > first.time and second.id != first.id
    assert second.tags == (f"warlock-instance={ID_A}",) and second.host == "warlock"


def test_each_instance_lists_its_own_snapshots_newest_first(
    repo: OffsiteSettings, tmp_path: Path
) -> None:
    a = make_instance(tmp_path / "a", big=1 << 16)
    b = make_instance(tmp_path / "b", big=1 << 16)
    made_a = [offsite.backup(repo, ID_A, a, ["world"]).id for _ in range(2)]
    made_b = offsite.backup(repo, ID_B, b, ["world"]).id
    listed = offsite.snapshots(repo, ID_A, sizes=True)
    assert [n.id for n in listed] == made_a[::-1]
    assert all(n.size and n.tags == (f"warlock-instance={ID_A}",) for n in listed)
    assert [n.id for n in offsite.snapshots(repo, ID_B)] == [made_b]
    elsewhere = repo._replace(host="another-host")  # the same repository, another host
    assert offsite.snapshots(elsewhere, ID_A) == []


def test_forget_keeps_the_last_of_one_instance_and_prunes(
    repo: OffsiteSettings, tmp_path: Path
) -> None:
    a = make_instance(tmp_path / "a", big=1 << 16)
    made = [offsite.backup(repo, ID_A, a, ["world"]).id for _ in range(3)]
    other = offsite.backup(repo, ID_B, make_instance(tmp_path / "b", big=1 << 16), ["world"]).id
    assert sorted(offsite.forget(repo, ID_A, keep_last=1)) == sorted(made[:2])
    assert [n.id for n in offsite.snapshots(repo, ID_A)] == [made[2]]
    assert [n.id for n in offsite.snapshots(repo, ID_B)] == [other]  # untouched
    with pytest.raises(InvalidInput, match="no keep_last"):
        offsite.forget(repo, ID_A)  # no policy given, none in the settings
    assert offsite.forget(repo._replace(keep_last=5), ID_A) == []


def test_a_restore_gives_back_the_tree_byte_for_byte(repo: OffsiteSettings, tmp_path: Path) -> None:
    root = make_instance(tmp_path / "inst", big=1 << 20)
    (root / "world" / "players" / "0.json").chmod(0o640)
    snap = offsite.backup(repo, ID_A, root, ["world", "level.dat", "console"])
    target = tmp_path / "restored"
    assert offsite.restore(repo, ID_A, snap.short_id, target) == ["level.dat", "world"]
    assert target.stat().st_mode & 0o777 == 0o700
    wanted = {k: v for k, v in tree(root).items() if k != "console"}
    assert tree(target) == wanted  # no symlink, no FIFO; modes and bytes as they were
    assert not (target / "world" / "shadow").exists()
    with pytest.raises(InvalidInput, match=r"restore target .*exists"):
        offsite.restore(repo, ID_A, snap.id, target)  # only into a new directory


def test_another_instances_snapshot_is_refused(repo: OffsiteSettings, tmp_path: Path) -> None:
    snap = offsite.backup(repo, ID_B, make_instance(tmp_path / "b", big=1 << 16), ["world"])
    target = tmp_path / "restored"
    with pytest.raises(InvalidInput, match=f"is instance {ID_B}'s backup, not {ID_A}'s"):
        offsite.restore(repo, ID_A, snap.id, target)
    assert not target.exists()
    with pytest.raises(NotFound, match="no snapshot 0123abcd"):
        offsite.restore(repo, ID_A, "0123abcd", target)
    with pytest.raises(InvalidInput, match="8 to 64 hex digits"):
        offsite.restore(repo, ID_A, "latest", target)


@pytest.mark.skipif(not ROOT, reason="only root can give a file away")
def test_a_file_the_instance_cannot_read_fails_the_backup_and_saves_nothing(
    repo: OffsiteSettings, tmp_path: Path
) -> None:
    root = make_instance(tmp_path / "inst", big=1 << 20)
    secret = root / "world" / "secret"
    secret.write_text("root's")
    secret.chmod(0o600)  # root's, in a directory the game controls: read as the game
    with pytest.raises(WarlockError, match="world/secret: Cannot open: Permission denied"):
        offsite.backup(repo, ID_A, root, ["world"])
    assert offsite.snapshots(repo, ID_A) == []  # the cut tar was not saved


def test_a_backup_past_its_deadline_is_stopped_and_saves_nothing(
    repo: OffsiteSettings, tmp_path: Path
) -> None:
    root = make_instance(tmp_path / "inst", big=8 << 20)
    with pytest.raises(WarlockError, match=r"^restic backup did not finish within 0.3 s$"):
        offsite.backup(repo, ID_A, root, ["world"], timeout=0.3)
    assert offsite.snapshots(repo, ID_A) == []


def test_a_wrong_password_is_one_line(repo: OffsiteSettings, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not it\n")
    wrong.chmod(0o600)
    bad = repo._replace(password_file=wrong)
    for attempt in (
        lambda: offsite.snapshots(bad, ID_A),
        lambda: offsite.init(bad),
        lambda: offsite.backup(bad, ID_A, make_instance(tmp_path / "i", big=1 << 16), ["world"]),
    ):
        with pytest.raises(WarlockError) as caught:
            attempt()
        assert str(caught.value).startswith(f"offsite repository {repo.repository}: wrong password")
        assert "\n" not in str(caught.value)


def test_a_missing_repository_is_named(tmp_path: Path) -> None:
    s = settings_for(tmp_path, str(tmp_path / "nowhere"))
    with pytest.raises(NotFound) as caught:
        offsite.snapshots(s, ID_A)
    assert str(caught.value) == (
        f"no restic repository at {tmp_path / 'nowhere'} (hint: `backup --to offsite` makes it)"
    )


def test_a_password_file_others_may_read_is_refused(tmp_path: Path) -> None:
    s = settings_for(tmp_path, str(tmp_path / "repo"))
    s.password_file.chmod(0o644)
    with pytest.raises(InvalidInput, match=r"open to group or others \(mode 0644\)"):
        offsite.init(s)
    assert not (tmp_path / "repo").exists()  # restic never ran
    s.password_file.unlink()
    with pytest.raises(NotFound, match=r"password file .* is missing"):
        offsite.init(s)


def test_a_missing_restic_is_named(tmp_path: Path) -> None:
    s = settings_for(tmp_path, str(tmp_path / "repo"), restic="restic-not-installed")
    with pytest.raises(WarlockError, match=r"restic is not installed.*apt install restic"):
        offsite.init(s)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_sftp_host_that_is_down_is_unreachable(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    command = f"ssh -p {port} -o BatchMode=yes -o ConnectTimeout=5 root@127.0.0.1 -s sftp"
    s = settings_for(tmp_path, "sftp:root@127.0.0.1:/srv/restic", sftp_command=command)
    with pytest.raises(WarlockError) as caught:
        offsite.snapshots(s, ID_A)
    message = str(caught.value)
    assert message.startswith("offsite repository sftp:root@127.0.0.1:/srv/restic is unreachable")
    assert "\n" not in message  # with ssh's "Connection refused" when restic relays it in time


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An SFTP-only OpenSSH server (ForceCommand internal-sftp, as on a storage box) on a
    free localhost port, with a throw-away host key; (port, the client's key)."""
    if not ROOT or not SSHD.exists() or not shutil.which("ssh-keygen"):
        pytest.skip("needs root, /usr/sbin/sshd and ssh-keygen (apt install openssh-server)")
    d = tmp_path / "sshd"
    d.mkdir()
    for key in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)],
                       check=True)  # fmt: skip
    shutil.copy(d / "client_key.pub", d / "authorized_keys")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    port = free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\nPidFile none\nSubsystem sftp internal-sftp\n"
        "ForceCommand internal-sftp\n"
    )
    log = (d / "sshd.log").open("w")
    proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(d / "sshd_config")],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while "Server listening" not in (d / "sshd.log").read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"sshd did not start: {(d / 'sshd.log').read_text().strip()}")
            time.sleep(0.05)
        yield port, d / "client_key"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def test_an_sftp_repository_backs_up_and_restores(sshd: tuple[int, Path], tmp_path: Path) -> None:
    port, key = sshd
    command = (
        f"ssh -p {port} -i {key} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
        "-o BatchMode=yes -o LogLevel=ERROR root@127.0.0.1 -s sftp"
    )
    s = settings_for(tmp_path, f"sftp:root@127.0.0.1:{tmp_path / 'remote'}", sftp_command=command)
    with pytest.raises(NotFound, match="no restic repository at sftp:"):
        offsite.snapshots(s, ID_A)
    assert offsite.init(s) is True and offsite.init(s) is False
    root = make_instance(tmp_path / "inst", big=1 << 18)
    snap = offsite.backup(s, ID_A, root, ["world", "level.dat"])
    assert [n.id for n in offsite.snapshots(s, ID_A)] == [snap.id]
    assert (tmp_path / "remote" / "config").is_file()  # on the "remote" side
    offsite.restore(s, ID_A, snap.id, tmp_path / "restored")
    assert tree(tmp_path / "restored") == {k: v for k, v in tree(root).items() if k != "console"}
    offsite.check(s)


def test_the_offsite_table_is_checked_whole() -> None:
    where = Path("/etc/warlock/warlockd.toml")
    table = {"repository": "sftp:u1@backup.example.org:/warlock", "keep_daily": 7,
             "sftp_command": "ssh -p 23 u1@b -s sftp"}  # fmt: skip
    good = offsite.parse(where, table)
    assert good == OffsiteSettings(
        "sftp:u1@backup.example.org:/warlock", keep_daily=7, sftp_command="ssh -p 23 u1@b -s sftp"
    )
    assert offsite.parse(where, {"repository": "/srv/restic"}).password_file == Path(
        "/etc/warlock/offsite.password"
    )
    settings, errors = offsite.check_table(
        where,
        {"repository": "backup.example.org:/x", "password_file": "offsite.password",
         "keep_last": 0, "keep_weekly": True, "host": "a b", "sftp_command": "ssh x",
         "colour": "blue"},
    )  # fmt: skip
    assert settings is None
    assert [e.split(": ", 2)[1] for e in errors] == [
        "offsite.colour", "offsite.repository", "offsite.password_file", "offsite.host",
        "offsite.keep_last", "offsite.keep_weekly", "offsite.sftp_command",
    ]  # fmt: skip
    with pytest.raises(InvalidInput, match=r"^7 problem\(s\) in /etc/warlock/warlockd.toml:"):
        offsite.parse(where, {"repository": "backup.example.org:/x", "password_file": "p",
                              "keep_last": 0, "keep_weekly": True, "host": "a b",
                              "sftp_command": "ssh x", "colour": "blue"})  # fmt: skip
    assert offsite.check_table(where, "not a table")[1] == [
        f"{where}: offsite: expected an [offsite] table"
    ]
