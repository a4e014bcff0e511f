"""The harness boots a real systemd, not a stand-in."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from pathlib import Path

from tests.harness.container import SystemdContainer, free_port, wait_for


def _connects(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_container_runs_a_real_systemd_as_pid_1(container: SystemdContainer) -> None:
    assert container.run(["cat", "/proc/1/comm"]).stdout.strip() == "systemd"
    state = container.systemctl("is-system-running").stdout.strip()
    assert state in ("running", "degraded")
    # ...a process of its own, not this machine's PID 1.
    assert container.leader != 1
    assert Path(f"/proc/{container.leader}/comm").read_text().strip() == "systemd"


def test_a_transient_service_starts_and_its_port_is_reachable_from_the_host(
    container: SystemdContainer,
) -> None:
    port = free_port()
    unit = "wl-harness-probe.service"
    container.run(
        [
            "systemd-run",
            f"--unit={unit}",
            "-p",
            "Type=exec",
            "/usr/bin/python3",
            "-m",
            "http.server",
            str(port),
            "--bind",
            "127.0.0.1",
        ]
    )
    try:
        assert container.systemctl("is-active", unit).stdout.strip() == "active"
        wait_for(lambda: _connects(port), timeout=10, message=f"port {port} to accept")
    finally:
        container.systemctl("stop", unit)
        container.systemctl("reset-failed", unit)
    assert container.systemctl("is-active", unit).stdout.strip() != "active"
    wait_for(lambda: not _connects(port), timeout=10, message=f"port {port} to close")


def test_writes_inside_vanish_after_poweroff(
    container_factory: Callable[..., SystemdContainer],
) -> None:
    marker = Path("/etc/warlock-harness-marker")
    assert not marker.exists()
    short_lived = container_factory()
    short_lived.run(["sh", "-c", f"echo inside > {marker}"])
    assert short_lived.run(["cat", str(marker)]).stdout == "inside\n"
    assert not marker.exists(), "a write inside reached the host while running"
    short_lived.close()
    assert not marker.exists(), "a write inside survived power-off"


def test_files_written_to_out_come_back_to_the_host(container: SystemdContainer) -> None:
    assert container.out_dir is not None
    container.run(["sh", "-c", "echo result > /out/harness-result"])
    result = container.out_dir / "harness-result"
    try:
        assert result.read_text() == "result\n"
    finally:
        result.unlink()


def test_the_system_bus_answers(container: SystemdContainer) -> None:
    container.run(
        [
            "busctl",
            "call",
            "org.freedesktop.systemd1",
            "/org/freedesktop/systemd1",
            "org.freedesktop.DBus.Peer",
            "Ping",
        ]
    )
    names = container.run(["busctl", "--system", "--no-pager", "list"]).stdout
    assert "org.freedesktop.systemd1" in names


def test_the_host_python_is_usable_inside(container: SystemdContainer) -> None:
    out = container.run([sys.executable, "-c", "import sys; print(sys.prefix)"]).stdout
    assert out.strip() == sys.prefix
