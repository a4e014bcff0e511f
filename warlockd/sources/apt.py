"""Debian packages: files in /usr, one version per host, shared by every instance.

`install()` runs apt-get only for packages that are missing or older than apt's
candidate, so installing an app whose packages are current needs no root and no network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import CommandError, InvalidInput, NotFound
from ..run import run
from . import Build, InstallSpec, Log, Progress

_PKG_RE = re.compile(r"[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?")
_HINT = "run `apt-get update`, or check install.packages in the app's manifest"


@dataclass(frozen=True)
class Policy:
    """One package in `apt-cache policy`; None stands for apt's `(none)`."""

    installed: str | None
    candidate: str | None


# Pure parsing and comparison.


def parse_policy(text: str) -> dict[str, Policy]:
    """`apt-cache policy a b` → {"a": Policy, ...}; packages apt does not know are absent."""
    found: dict[str, dict[str, str | None]] = {}
    current: dict[str, str | None] | None = None
    for line in text.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            current = found.setdefault(line[:-1], {"Installed": None, "Candidate": None})
            continue
        m = re.fullmatch(r"\s+(Installed|Candidate): (\S+)\s*", line)
        if m and current is not None:
            current[m[1]] = None if m[2] == "(none)" else m[2]
    return {k: Policy(v["Installed"], v["Candidate"]) for k, v in found.items()}


def parse_dpkg_query(text: str) -> dict[str, str]:
    """Lines of `${binary:Package}\\t${Status}\\t${Version}` → {package: version} if installed."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[1].split()[-1:] == ["installed"] and parts[2]:
            out.setdefault(parts[0], parts[2])
    return out


def lookup(found: dict[str, str], package: str) -> str | None:
    """A package's version, matching `foo` to dpkg's `foo:amd64` when no arch was asked for."""
    if package in found:
        return found[package]
    if ":" not in package:
        for name, version in found.items():
            if name.split(":")[0] == package:
                return version
    return None


def _order(c: str) -> int:
    if c == "~":
        return -1
    if c == "" or c.isdigit():
        return 0
    if c.isascii() and c.isalpha():
        return ord(c)
    return ord(c) + 256


def _compare_part(a: str, b: str) -> int:
    """dpkg's verrevcmp: alternating non-digit runs (by _order) and numeric runs."""
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i] if i < len(a) and not a[i].isdigit() else "")
            bc = _order(b[j] if j < len(b) and not b[j].isdigit() else "")
            if ac != bc:
                return ac - bc
            i, j = i + 1, j + 1
        ni, nj = i, j
        while ni < len(a) and a[ni].isdigit():
            ni += 1
        while nj < len(b) and b[nj].isdigit():
            nj += 1
        diff = int(a[i:ni] or 0) - int(b[j:nj] or 0)
        if diff:
            return diff
        i, j = ni, nj
    return 0


def compare_versions(a: str, b: str) -> int:
    """Negative, zero or positive as Debian version a sorts before, with or after b."""

    def split(v: str) -> tuple[int, str, str]:
        epoch, _, rest = v.partition(":") if ":" in v else ("0", "", v)
        upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
        return int(epoch or 0), upstream, revision

    ea, ua, ra = split(a)
    eb, ub, rb = split(b)
    return (ea - eb) or _compare_part(ua, ub) or _compare_part(ra, rb)


def build_id(versions: dict[str, str], packages: tuple[str, ...]) -> str:
    return ",".join(f"{p}={versions[p]}" for p in packages)


def stale(
    packages: tuple[str, ...], versions: dict[str, str], policy: dict[str, Policy]
) -> list[str]:
    """Packages missing, or older than their candidate."""
    out = []
    for p in packages:
        have, cand = versions.get(p), policy[p].candidate if p in policy else None
        if have is None or (cand is not None and compare_versions(cand, have) > 0):
            out.append(p)
    return out


def unknown(packages: tuple[str, ...], policy: dict[str, Policy]) -> list[str]:
    """Packages apt cannot install: not known at all, or virtual with no candidate."""
    return [
        p
        for p in packages
        if p not in policy or (policy[p].candidate or policy[p].installed) is None
    ]


def newest(
    packages: tuple[str, ...], versions: dict[str, str], policy: dict[str, Policy]
) -> dict[str, str]:
    """The version of each package after an install: the candidate unless it is older."""
    out = dict(versions)
    for p in stale(packages, versions, policy):
        out[p] = policy[p].candidate or versions[p]
    return out


# Side effects: apt-cache, dpkg-query, apt-get.


def _packages(spec: InstallSpec) -> tuple[str, ...]:
    bad = [p for p in spec.packages if not _PKG_RE.fullmatch(p)]
    if bad or not spec.packages:
        raise InvalidInput(
            f"not Debian package names: {', '.join(map(repr, bad))}"
            if bad
            else "install.packages is empty",
            hint="names are lowercase letters, digits and + . -, optionally :arch",
        )
    return spec.packages


def policy(packages: tuple[str, ...]) -> dict[str, Policy]:
    """apt's view of the packages; raise NotFound naming those it cannot install."""
    found = parse_policy(run(["apt-cache", "policy", *packages], check=False))
    missing = unknown(packages, found)
    if missing:
        names = ", ".join(f"'{p}'" for p in missing)
        noun = "package" if len(missing) == 1 else "packages"
        raise NotFound(f"Debian {noun} {names} not found", hint=_HINT)
    return found


def installed_versions(packages: tuple[str, ...]) -> dict[str, str]:
    out = run(
        ["dpkg-query", "-W", "-f", "${binary:Package}\t${Status}\t${Version}\n", *packages],
        check=False,  # exit 1 when one of them is unknown: the others still print
    )
    found = parse_dpkg_query(out)
    return {p: v for p in packages if (v := lookup(found, p)) is not None}


def install(
    spec: InstallSpec, apps_dir: Path, guid: str, log: Log, progress: Progress | None = None
) -> Build:
    packages = _packages(spec)
    known = policy(packages)
    todo = stale(packages, installed_versions(packages), known)
    if todo:
        log(f"apt-get install {' '.join(todo)}")
        try:
            run(
                ["apt-get", "install", "-y", "--no-install-recommends",
                 "-o", "DPkg::Lock::Timeout=300", *todo],
                timeout=3600,
                env={"DEBIAN_FRONTEND": "noninteractive"},
            )  # fmt: skip
        except CommandError as e:
            hint = "run as root" if "are you root" in e.message else e.hint
            raise CommandError(e.message, hint=hint) from None
    versions = installed_versions(packages)
    missing = [p for p in packages if p not in versions]
    if missing:
        raise CommandError(
            f"apt-get did not install {', '.join(missing)}", hint="see `apt-cache policy`"
        )
    return Build(Path("/"), build_id(versions, packages))


def installed(spec: InstallSpec, apps_dir: Path, guid: str) -> Build | None:
    packages = _packages(spec)
    versions = installed_versions(packages)
    if any(p not in versions for p in packages):
        return None
    return Build(Path("/"), build_id(versions, packages))


def check_update(spec: InstallSpec, apps_dir: Path, guid: str) -> str | None:
    packages = _packages(spec)
    known = policy(packages)
    versions = installed_versions(packages)
    if not stale(packages, versions, known):
        return None
    return build_id(newest(packages, versions, known), packages)
