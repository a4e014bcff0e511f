"""Benchmarks of warlockd's CLI, run against a real systemd in a throw-away container.

See bench/README.md. Nothing here is imported by warlockd; the in-container helpers
(timeit_cmd.py, create_start_loop.py) use only the standard library.
"""
