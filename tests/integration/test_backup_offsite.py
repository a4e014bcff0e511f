"""Off-site backups to an SFTP repository (an sshd in the container, an SFTP-only account),
on a real systemd: incremental snapshots, a restore that gives back the tree, and errors
that leave local backups alone."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.container import SystemdContainer, free_port
from tests.integration.test_instances import create, manage

KEY = "/root/.ssh/warlock-offsite-test"
HOME = "/srv/sftp-home"
REPO_DIR = f"{HOME}/repo"


@pytest.fixture(scope="module")
def ct(systemd_available: None) -> Iterator[SystemdContainer]:
    if shutil.which("restic") is None or shutil.which("sshd", path="/usr/sbin") is None:
        pytest.skip("restic and openssh-server are needed (scripts/deps installs them)")
    with SystemdContainer() as booted:
        port = free_port()
        booted.sh(
            f"""
            set -e
            useradd --create-home --home-dir {HOME} --shell /bin/sh offsite
            mkdir -p /root/.ssh {HOME}/.ssh /run/sshd && chmod 700 /root/.ssh
            ssh-keygen -q -t ed25519 -N '' -f {KEY}
            printf 'restrict %s\\n' "$(cat {KEY}.pub)" > {HOME}/.ssh/authorized_keys
            chown -R offsite: {HOME}/.ssh && chmod 700 {HOME}/.ssh
            test -f /etc/ssh/ssh_host_ed25519_key || ssh-keygen -A
            systemd-run --quiet --unit=offsite-sshd /usr/sbin/sshd -D -p {port} \
                -o ListenAddress=127.0.0.1 -o PasswordAuthentication=no \
                -o 'ForceCommand internal-sftp' -o PidFile=/run/offsite-sshd.pid
            mkdir -p /etc/warlock
            head -c 24 /dev/urandom | base64 > /etc/warlock/offsite.password
            chmod 600 /etc/warlock/offsite.password
            """
        )
        ssh = (
            f"ssh -p {port} -i {KEY} -o BatchMode=yes -o StrictHostKeyChecking=accept-new "
            f"-o UserKnownHostsFile=/root/.ssh/known_hosts offsite@127.0.0.1 -s sftp"
        )
        config = (
            f'[offsite]\nrepository = "sftp:offsite@127.0.0.1:{REPO_DIR}"\n'
            f'sftp_command = "{ssh}"\nkeep_last = 5\n'
        )
        booted.run(["sh", "-c", "cat >> /etc/warlock/warlockd.toml"], input=config)
        yield booted


def world(ct: SystemdContainer, path: str, tick: int, blob: int) -> None:
    """The example game's save, with `blob` random bytes (base64) beside the tick."""
    write = (
        "import base64, json, os, sys; open(sys.argv[1], 'w').write(json.dumps("
        "{'tick': int(sys.argv[2]), 'blob': base64.b64encode(os.urandom(int(sys.argv[3])))"
        ".decode()}))"
    )
    ct.run(["python3", "-c", write, path, str(tick), str(blob)])


def repo_bytes(ct: SystemdContainer) -> int:
    return int(ct.sh(f"du -sb {REPO_DIR} | cut -f1"))


def tree(ct: SystemdContainer, inst: dict[str, Any]) -> str:
    """Every file of the saves with its checksum, owner and mode."""
    return ct.sh(
        f"cd {inst['path']}/data && find . -type f -printf '%p %u %m ' -exec sha256sum {{}} \\; "
        "| awk '{print $1, $2, $3, $4}' | sort"
    )


def test_snapshots_are_incremental_and_a_restore_gives_back_the_tree(
    ct: SystemdContainer,
) -> None:
    inst = create(ct, "--instance-name", "Far away")
    iid, data = inst["id"], f"{inst['path']}/data"
    owner = ct.sh(f"stat -c %U {data}")
    # the example's saves are world.json: 48 MiB of random bytes as base64 (64 MiB), which
    # no compression can store in less than 48 MiB
    world(ct, f"{data}/world.json", tick=1, blob=48 << 20)
    ct.run(["chown", f"{owner}:", f"{data}/world.json"])
    first = json.loads(manage(ct, "--instance", iid, "--backup", "--to", "offsite").stdout)
    after_first = repo_bytes(ct)
    assert after_first > 48 << 20
    # a small change: 4 KiB rewritten in the middle of the world
    ct.sh(
        f"head -c 4096 /dev/zero | tr '\\0' A | "
        f"dd of={data}/world.json bs=4096 seek=4000 conv=notrunc status=none"
    )
    wanted = tree(ct, inst)
    second = json.loads(manage(ct, "--instance", iid, "backup", "--to", "offsite").stdout)
    grown = repo_bytes(ct) - after_first
    # restic cuts the tar stream into chunks of 512 KiB to 8 MiB at content-defined points
    # (a random polynomial per repository, so sizes differ from run to run): the change
    # renews the chunk holding the tar header (its mtime), the one or two around the 4 KiB,
    # and the index; a full copy would add 48 MiB again
    assert grown < 24 << 20, f"the second snapshot added {grown} bytes for a 4 KiB change"
    assert first["snapshot"]["id"] != second["snapshot"]["id"]

    listing = json.loads(manage(ct, "--instance", iid, "backups", "--json").stdout)
    offsite_rows = [r for r in listing if r["where"] == "offsite"]
    assert [r["restore"] for r in offsite_rows] == [
        f"offsite:{second['snapshot']['id']}",
        f"offsite:{first['snapshot']['id']}",
    ]  # newest first

    world(ct, f"{data}/world.json", tick=9, blob=10)  # the world lost
    manage(ct, "--instance", iid, "--restore", offsite_rows[0]["restore"])
    assert tree(ct, inst) == wanted  # content, owner and mode
    assert ct.sh(f"stat -c %U {data}/world.json") == owner
    manage(ct, "--instance", iid, "--delete", "--yes", "--purge")


def test_a_snapshot_of_another_instance_and_a_wrong_password_are_refused(
    ct: SystemdContainer,
) -> None:
    a = create(ct, "--instance-name", "A")
    b = create(ct, "--instance-name", "B")
    for inst, tick in ((a, 1), (b, 2)):
        world(ct, f"{inst['path']}/data/world.json", tick=tick, blob=100)
    snap = json.loads(manage(ct, "--instance", a["id"], "--backup", "--to", "offsite").stdout)
    before = tree(ct, b)
    other = manage(ct, "--instance", b["id"], "--restore",
                   f"offsite:{snap['snapshot']['short_id']}", check=False)  # fmt: skip
    assert other.returncode != 0 and len(other.stderr.splitlines()) == 1, other.stderr
    assert other.stderr.startswith("error: ") and tree(ct, b) == before

    ct.sh("cp /etc/warlock/offsite.password /root/pw && echo wrong > /etc/warlock/offsite.password")
    try:
        failed = manage(ct, "--instance", a["id"], "--backup", "--to", "offsite", check=False)
        assert failed.returncode != 0 and "wrong password" in failed.stderr, failed.stderr
        assert len(failed.stderr.splitlines()) == 1 and failed.stdout == ""
        local = json.loads(manage(ct, "--instance", a["id"], "--backup").stdout)  # unaffected
        assert local["file"].endswith(".tar.gz")
    finally:
        ct.sh("mv /root/pw /etc/warlock/offsite.password")
    for inst in (a, b):
        manage(ct, "--instance", inst["id"], "--delete", "--yes", "--purge")
