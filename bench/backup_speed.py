"""How long a backup archive of a world takes: the former tarfile way against tar and pigz.

    cd /work/main && python3 -m bench.backup_speed               # a ~1 GiB world
    python3 -m bench.backup_speed --size-mb 200 --repeat 3       # smaller, more runs

No container: it makes a world-like tree under --dir (default a new directory in /var/tmp,
not a tmpfs; removed after unless --keep), reads it once so every way starts with it in the
page cache, then times each way of writing `<world>.tar.gz` to a file on the same disk
(fsynced, as backup.py does), `--repeat` times in turn:

- tarfile gz9 (before): what warlockd's backup child ran until this change (Python's
  tarfile, `w|gz`, gzip level 9, files and directories only; TARFILE below), as the
  world's owner: the baseline of every row
- tar czf: GNU tar and its gzip (-6), one core
- tar | pigz -9 and tar | pigz: tar piped into pigz (every core) at the former level and at 6
- write_archive: warlockd.archive_writer (find | tar | pigz -6, sorted list, files and
  directories only) as the world's owner at nice 10 / ionice best-effort 7: the new way

The world: two large incompressible files (like the biggest region files), many 1-4 MiB
"region" files (3/10 random bytes, 2/10 zero padding, half JSON-like text) and many small
JSON files (players, stats, advancements: very compressible): 20/40/40 % by size, about a
third incompressible.
As root, the tree is given to nobody (65534), as an instance directory belongs to its
user, and the two warlockd ways run as nobody; the shell pipelines run as root.

Each row: wall time (median of --repeat, p90, min), beside the tarfile baseline from the
same run and the ratio; then archive size, its ratio to the world, and the CPU seconds of
the children (user + system: pigz spends more CPU for less wall time).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from bench.common import Result, Stats, fmt_ms, log, print_table
from bench.stats import summarize
from warlockd.archive_writer import write_archive

NOBODY = 65534
NAMES = ["world", "level.dat"]
MIB = 1 << 20


def make_world(root: Path, size_mb: int, seed: int = 1) -> int:
    """A world-like tree of about size_mb MiB under root; its size in bytes."""
    rng = random.Random(seed)
    total = size_mb * MIB
    corpus = "\n".join(
        json.dumps({"uuid": f"{rng.getrandbits(64):016x}", "name": f"player{i}",
                    "pos": [rng.uniform(-3e4, 3e4) for _ in range(3)], "hp": rng.randint(0, 20),
                    "inventory": [{"id": f"minecraft:item{rng.randint(0, 400)}",
                                   "count": rng.randint(1, 64)} for _ in range(rng.randint(0, 9))]})
        for i in range(30000)
    ).encode()  # fmt: skip
    written = 0
    region = root / "world" / "region"
    region.mkdir(parents=True)
    for i, share in enumerate([0.12, 0.08]):  # 20 %: a few large, incompressible
        size = int(total * share)
        (region / f"r.big.{i}.mca").write_bytes(rng.randbytes(size))
        written += size
    n = 0
    while written < total * 0.6:  # 40 %: 1-4 MiB region files: 3/10 random, 2/10 zeros, text
        size = rng.randint(1, 4) * MIB
        at = rng.randrange(0, len(corpus) - size)
        data = rng.randbytes(size * 3 // 10) + bytes(size // 5) + corpus[at : at + size // 2]
        (region / f"r.{n % 64}.{n // 64}.mca").write_bytes(data)
        written, n = written + len(data), n + 1
    n = 0
    for sub in ("playerdata", "stats", "advancements", "data"):
        (root / "world" / sub).mkdir()
    while written < total:  # 40 %: small JSON files
        size = rng.randint(1, 16) * 1024
        start = rng.randrange(0, len(corpus) - size)
        sub = ("playerdata", "stats", "advancements", "data")[n % 4]
        (root / "world" / sub / f"{n:06d}.json").write_bytes(corpus[start : start + size])
        written, n = written + size, n + 1
    (root / "level.dat").write_bytes(corpus[:4096])
    if os.geteuid() == 0:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in [dirpath, *(os.path.join(dirpath, f) for f in dirnames + filenames)]:
                os.lchown(name, NOBODY, NOBODY)
    return written


def warm(root: Path) -> None:
    """Read every file once, so every way starts from the page cache."""
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            with open(os.path.join(dirpath, name), "rb") as f:
                while f.read(MIB):
                    pass


def as_owner() -> dict[str, Any]:
    return {"user": NOBODY, "group": NOBODY, "extra_groups": []} if os.geteuid() == 0 else {}


# The archive child of warlockd's backup before tar | pigz (warlockd/backup.py, _archive).
TARFILE = """
import sys, tarfile
from pathlib import Path
root = Path(sys.argv[1])
with tarfile.open(fileobj=sys.stdout.buffer, mode="w|gz") as tar:
    for name in sys.argv[2:]:
        tar.add(root / name, arcname=name,
                filter=lambda i: i if i.isfile() or i.isdir() else None)
"""


def today(root: Path, out: BinaryIO) -> None:
    subprocess.run(
        ["/usr/bin/python3", "-c", TARFILE, str(root), *NAMES], stdout=out, check=True,
        stdin=subprocess.DEVNULL, cwd="/", env={"PATH": "/usr/bin:/bin"}, **as_owner(),
    )  # fmt: skip


def shell(script: str) -> Callable[[Path, BinaryIO], None]:
    def run(root: Path, out: BinaryIO) -> None:
        subprocess.run(["sh", "-c", script, "sh", *NAMES], stdout=out, cwd=root, check=True)

    return run


def new_way(root: Path, out: BinaryIO) -> None:
    write_archive(root, NAMES, out, **as_owner())


WAYS: list[tuple[str, Callable[[Path, BinaryIO], None]]] = [
    ("tarfile gz9 (before)", today),
    ("tar czf", shell('tar -czf - "$@"')),
    ("tar | pigz -9", shell('tar -cf - "$@" | pigz -9')),
    ("tar | pigz", shell('tar -cf - "$@" | pigz')),
    ("write_archive (new)", new_way),
]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(
    way: Callable[[Path, BinaryIO], None], root: Path, out: Path
) -> tuple[float, int, float]:
    """One run: wall ms, archive bytes, children's CPU seconds."""
    cpu = children_cpu()
    started = time.perf_counter()
    with open(out, "wb") as f:
        way(root, f)
        f.flush()
        os.fsync(f.fileno())
    elapsed = (time.perf_counter() - started) * 1000
    size = out.stat().st_size
    out.unlink()
    return elapsed, size, children_cpu() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="world size (MiB)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs of each way")
    parser.add_argument("--dir", type=Path, help="where to make the world (default /var/tmp)")
    parser.add_argument("--keep", action="store_true", help="leave the world behind")
    args = parser.parse_args(argv)
    if not shutil.which("pigz"):
        print("pigz is not installed (apt install pigz)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="warlock-bench-backup-", dir=args.dir or "/var/tmp"))
    work.chmod(0o755)  # as the directories above an instance: the owner passes through
    load = os.getloadavg()[0]
    try:
        world = work / "world-root"
        world.mkdir()
        log(f"making a {args.size_mb} MiB world in {world}")
        made = make_world(world, args.size_mb)
        files = sum(len(f) for _, _, f in os.walk(world))
        log(f"{made / MIB:.0f} MiB in {files} files; reading it once into the page cache")
        warm(world)
        runs: dict[str, list[tuple[float, int, float]]] = {name: [] for name, _ in WAYS}
        for i in range(args.repeat):
            for name, way in WAYS:
                runs[name].append(measure(way, world, work / "out.tar.gz"))
                log(f"run {i + 1}/{args.repeat} {name}: {fmt_ms(runs[name][-1][0])}")
        stats = {n: Stats.from_json(summarize([r[0] for r in rs])) for n, rs in runs.items()}
        base_name = WAYS[0][0]
        results = [
            Result(name, stats[name], baseline_name=base_name if name != base_name else "",
                   baseline=stats[base_name] if name != base_name else None)
            for name, _ in WAYS
        ]  # fmt: skip
        print_table(results, f"Backup archive of a {made / MIB:.0f} MiB world ({files} files)")
        base_size = statistics.median(r[1] for r in runs[base_name])
        print(f"\n{'way':<22}{'archive':>12}{'of world':>10}{'vs before':>10}{'CPU s':>8}")
        for name, _ in WAYS:
            size = statistics.median(r[1] for r in runs[name])
            cpu = statistics.median(r[2] for r in runs[name])
            print(f"{name:<22}{size / MIB:>8.1f} MiB{size / made:>10.1%}"
                  f"{size / base_size:>9.2f}x{cpu:>8.1f}")  # fmt: skip
        print(f"\nload average (1 min): {load:.2f} at start, {os.getloadavg()[0]:.2f} at end;"
              f" {os.cpu_count()} CPUs")  # fmt: skip
    finally:
        if args.keep:
            log(f"left {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
