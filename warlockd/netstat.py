"""Sockets of this network namespace, read from /proc/net: a few file reads, no imports.

Shared by port allocation (is a port free?) and the runner (has the game bound it?).
"""

from __future__ import annotations

import os


def bound(inodes: set[int] | None = None) -> dict[tuple[str, int], int]:
    """(tcp|udp, port) -> socket inode, for listening TCP and bound UDP sockets;
    with `inodes`, only the sockets among them."""
    found: dict[tuple[str, int], int] = {}
    for table in ("tcp", "tcp6", "udp", "udp6"):
        try:
            with open(f"/proc/net/{table}") as f:
                next(f)
                lines = f.readlines()
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if table.startswith("tcp") and fields[3] != "0A":  # 0A: LISTEN
                continue
            if table.startswith("udp") and fields[2].rsplit(":", 1)[1] != "0000":
                continue  # a connected client socket, not a server's
            inode = int(fields[9])
            if inodes is None or inode in inodes:
                found.setdefault((table[:3], int(fields[1].rsplit(":", 1)[1], 16)), inode)
    return found


def socket_inodes(root: int) -> set[int]:
    """The sockets held by a process and its descendants."""
    inodes: set[int] = set()
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return inodes


def holder(inode: int) -> str:
    """Which process holds a socket, for error messages: a scan of /proc, so only on conflict."""
    target = f"socket:[{inode}]"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    with open(f"/proc/{pid}/comm") as f:
                        return f"process {pid} ({f.read().strip()})"
        except OSError:
            continue
    return "a process on the host"
