"""warlockd: game-server instances as systemd units, one host, many games."""

__version__ = "0.1.0"
