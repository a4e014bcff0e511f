"""Backups and restore of a real game's world on a real systemd."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.container import SystemdContainer, wait_for
from tests.integration.test_instances import create, manage, services


@pytest.fixture(scope="module")
def ct(systemd_available: None) -> Iterator[SystemdContainer]:
    with SystemdContainer() as booted:
        yield booted


def tick(ct: SystemdContainer, inst: dict[str, Any]) -> int:
    out = ct.run(["cat", f"{inst['path']}/data/world.json"]).stdout
    return int(json.loads(out)["tick"])


def test_a_backup_of_a_running_game_restores_its_world(ct: SystemdContainer) -> None:
    inst = create(ct, "--instance-name", "Saved")
    iid = inst["id"]
    manage(ct, "--instance", iid, "--start")
    manage(ct, "--instance", iid, "--cmd", "save")
    wait_for(
        lambda: (
            ct.run(["test", "-s", f"{inst['path']}/data/world.json"], check=False).returncode == 0
        ),
        timeout=15,
        message="the world saved",
    )
    saved_tick = tick(ct, inst)
    made = json.loads(manage(ct, "--instance", iid, "--backup", "--max-backups", "2").stdout)
    listing = ct.run(["ls", "-l", f"{inst['path']}/backups"]).stdout
    assert made["file"].rsplit("/", 1)[1] in listing
    owner = ct.run(["stat", "-c", "%U %a", f"{inst['path']}/backups"]).stdout.split()
    assert owner == ["root", "700"]  # the game cannot touch its own backups

    manage(ct, "--instance", iid, "--stop")  # saves again: the world moved on
    assert tick(ct, inst) > saved_tick
    manage(ct, "--instance", iid, "--start")
    refused = manage(ct, "--instance", iid, "restore", made["file"], check=False)
    assert refused.returncode == 1 and "is running" in refused.stderr
    assert refused.stderr.count("\n") == 1

    name = made["file"].rsplit("/", 1)[1]
    done = json.loads(manage(ct, "restore", name, "--instance", iid, "--force").stdout)
    assert done["restarted"] is True and done["paths"] == ["world.json"]
    assert services(ct, iid)["status"] == "running"
    journal = ct.run(["journalctl", "-u", f"game@{iid}.service", "-o", "cat"]).stdout
    started = [line for line in journal.splitlines() if "] started '" in line]
    assert f"tick {saved_tick}," in started[-1]  # the game came back from the restored world
    world_owner = ct.run(["stat", "-c", "%U", f"{inst['path']}/data/world.json"]).stdout.strip()
    assert world_owner == f"wl-{iid.replace('-', '')[:12]}"
    kinds = [
        e["message"].split()[0]
        for e in json.loads(manage(ct, "events", "--instance", iid, "--json").stdout)
        if e["kind"] == "backup"
    ]
    assert kinds == ["backed", "restored"]
    manage(ct, "--instance", iid, "--delete", "--yes", "--purge")


def test_a_clone_starts_from_the_sources_world_beside_it(ct: SystemdContainer) -> None:
    source = create(ct, "--instance-name", "Original", "--env", "GREETING=hello")
    sid = source["id"]
    manage(ct, "--instance", sid, "--start")
    manage(ct, "--instance", sid, "--stop")  # saves the world
    saved_tick = tick(ct, source)
    manage(ct, "--instance", sid, "--start")  # running while it is cloned: it is only read
    made = json.loads(manage(ct, "--instance", sid, "--clone", "--instance-name", "Copy").stdout)
    cid = made["id"]
    assert cid != sid and made["name"] == "Copy" and made["env"] == {"GREETING": "hello"}
    assert made["ports"]["game"] != source["ports"]["game"]
    assert ct.run(["ls", "-A", f"{source['path']}/backups"]).stdout.split() == [".lock"]

    manage(ct, "start", "--instance", cid)
    assert services(ct, cid)["status"] == "running" and services(ct, sid)["status"] == "running"
    journal = ct.run(["journalctl", "-u", f"game@{cid}.service", "-o", "cat"]).stdout
    started = [line for line in journal.splitlines() if "] started '" in line]
    assert started and f"tick {saved_tick}," in started[-1]  # the source's world, not a new one
    owner = ct.run(["stat", "-c", "%U", f"{made['path']}/data/world.json"]).stdout.strip()
    assert owner == f"wl-{cid.replace('-', '')[:12]}"
    events = json.loads(manage(ct, "events", "--instance", cid, "--json").stdout)
    assert any(e["message"] == f"cloned from {sid} (Original)" for e in events)
    for iid in (cid, sid):
        manage(ct, "--instance", iid, "--delete", "--yes", "--purge")


def test_a_pack_imports_as_a_new_instance_that_starts_from_its_world(
    ct: SystemdContainer,
) -> None:
    source = create(ct, "--instance-name", "Packed", "--memory-max", "512M")
    sid = source["id"]
    manage(ct, "--instance", sid, "--start")
    manage(ct, "--instance", sid, "--stop")  # saves the world
    saved_tick = tick(ct, source)
    packed = json.loads(manage(ct, "pack", "--instance", sid).stdout)
    mode = ct.run(["stat", "-c", "%a %U", packed["file"]]).stdout.split()
    assert mode == ["600", "root"]
    moved = "/root/moved-pack.tar.gz"  # carried elsewhere, as to another host
    ct.run(["cp", packed["file"], moved])
    manage(ct, "--instance", sid, "--delete", "--yes", "--purge")  # the source is gone

    made = json.loads(manage(ct, "--import", moved, "--instance-name", "Moved").stdout)
    iid = made["id"]
    assert iid != sid and made["name"] == "Moved" and made["limits"] == {"memory_max": "512M"}
    manage(ct, "--instance", iid, "--start")
    assert services(ct, iid)["status"] == "running"
    journal = ct.run(["journalctl", "-u", f"game@{iid}.service", "-o", "cat"]).stdout
    started = [line for line in journal.splitlines() if "] started '" in line]
    assert started and f"tick {saved_tick}," in started[-1]
    owner = ct.run(["stat", "-c", "%U", f"{made['path']}/data/world.json"]).stdout.strip()
    assert owner == f"wl-{iid.replace('-', '')[:12]}"
    assert show_memory_max(ct, iid) == str(512 * 1024 * 1024)
    bad = manage(ct, "import", "/etc/hostname", check=False)  # not a pack: one line, exit 2
    assert (
        bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not a warlockd pack" in bad.stderr
    )
    manage(ct, "--instance", iid, "--delete", "--yes", "--purge")


def show_memory_max(ct: SystemdContainer, instance_id: str) -> str:
    out = ct.run(["systemctl", "show", f"game@{instance_id}.service", "-p", "MemoryMax"]).stdout
    return out.strip().split("=", 1)[1]
