"""SteamCMD: one directory per Steam build under `<apps_dir>/<guid>/<buildid>/`.

An install runs `steamcmd +force_install_dir <staging> +login ... +app_update <id>
validate +quit` into a staging directory (seeded with a copy of the current build, so an
update downloads only what changed) and renames it to the buildid that SteamCMD wrote
in `steamapps/appmanifest_<id>.acf`. SteamCMD's exit status is unreliable (it can crash
after `Success!`, and exit 0 after `Error!`): only its console text decides.
See fixtures/steamcmd/FORMAT.md for the output this parses.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from ..errors import CommandError, InvalidInput, NotFound, WarlockError
from ..run import run
from . import (
    Build,
    InstallSpec,
    Log,
    Progress,
    app_dir,
    build_dir,
    current_build,
    promote,
    staging,
    vdf,
)

CANDIDATES = (
    "/usr/games/steamcmd",
    "/usr/bin/steamcmd",
    "/usr/local/bin/steamcmd",
    "/opt/steamcmd/steamcmd.sh",
)
INSTALL_TIMEOUT = 6 * 3600  # a 35 GB first install on a slow line
INFO_TIMEOUT = 600
_SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/games"
_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_PROGRESS_RE = re.compile(r"progress: [0-9.]+ \((\d+) / (\d+)\)")
_PLATFORMS = ("windows", "linux", "macos")

# `state is 0x... after update job`: what the state means, and what to do (FORMAT.md).
_STATES = {
    0x202: ("not enough disk space", "free space on the file system of {dir} and retry"),
    0x212: ("not enough disk space", "free space on the file system of {dir} and retry"),
    0x402: ("the download was interrupted (network or Steam)", "check the network and retry"),
    0x602: (
        "the update did not complete: files could not be written or validated",
        "check that {dir} is writable and has space, then retry; a network drop does this too",
    ),
    0x606: ("disk write failure", "check that {dir} is writable and has space"),
    0x626: ("update files are missing", "retry; if it persists, delete {dir}/.steam-home"),
    0x6A6: ("update files are corrupt", "retry; if it persists, delete {dir}/.steam-home"),
}
# StateFlags bits, for codes without an entry above.
_FLAGS = {
    0x1: "uninstalled",
    0x2: "update required",
    0x4: "fully installed",
    0x8: "encrypted",
    0x10: "locked",
    0x20: "files missing",
    0x40: "app running",
    0x80: "files corrupt",
    0x100: "update running",
    0x200: "update paused",
    0x400: "update started",
    0x800: "uninstalling",
    0x1000: "backup running",
}
_REASONS = {
    "no subscription": "the Steam account must own this app: set install.login in the manifest",
    "disk write failure": "check that {dir} is writable and has space",
    "missing configuration": "check install.app_id and install.platform in the manifest",
}
_SUCCESS = re.compile(r"Success! App '(\d+)' (?:fully installed|already up to date)")
_STATE = re.compile(r"Error! App '(\d+)' state is 0x([0-9a-fA-F]+) after update job")
_FAILED = re.compile(r"ERROR! Failed to install app '(\d+)' \(([^)]*)\)")


# Pure: command lines and console text.


def _checked(spec: InstallSpec) -> int:
    problems = []
    if spec.app_id is None or spec.app_id <= 0:
        problems.append("install.app_id must be a Steam app id")
    if not _NAME_RE.fullmatch(spec.branch):
        problems.append(f"install.branch {spec.branch!r} is not a branch name")
    if not _NAME_RE.fullmatch(spec.login):
        problems.append(f"install.login {spec.login!r} is not a Steam account name")
    if spec.platform is not None and spec.platform not in _PLATFORMS:
        problems.append(f"install.platform {spec.platform!r} is not one of {_PLATFORMS}")
    if problems or spec.app_id is None:
        raise InvalidInput("; ".join(problems))
    return spec.app_id


def update_argv(binary: str, spec: InstallSpec, install_dir: Path) -> list[str]:
    """force_install_dir must come before login: SteamCMD ignores it after."""
    app_id = _checked(spec)
    argv = [binary]
    if spec.platform:
        argv += ["+@sSteamCmdForcePlatformType", spec.platform]
    argv += ["+force_install_dir", str(install_dir), "+login", spec.login]
    argv += ["+app_update", str(app_id)]
    if spec.branch != "public":
        argv += ["-beta", spec.branch]
    return [*argv, "validate", "+quit"]


def info_argv(binary: str, spec: InstallSpec) -> list[str]:
    app_id = _checked(spec)
    return [binary, "+login", spec.login, "+app_info_update", "1",
            "+app_info_print", str(app_id), "+quit"]  # fmt: skip


def describe_state(code: int) -> tuple[str, str]:
    """What `state is 0x<code>` means and a hint with a `{dir}` placeholder."""
    if code in _STATES:
        return _STATES[code]
    flags = ", ".join(name for bit, name in _FLAGS.items() if code & bit) or "no known flags"
    return f"the update did not complete ({flags})", "retry; see the SteamCMD output with --debug"


def update_failure(output: str, app_id: int, where: Path) -> WarlockError | None:
    """None if SteamCMD installed the app, else the error to raise. The last verdict wins."""
    verdict: WarlockError | None = WarlockError(
        f"SteamCMD gave no result for app {app_id}: {_last_line(output)}",
        hint="check the app id and the login in the manifest, then retry",
    )
    for line in output.splitlines():
        if (m := _SUCCESS.search(line)) and int(m[1]) == app_id:
            verdict = None
        elif (m := _STATE.search(line)) and int(m[1]) == app_id:
            code = int(m[2], 16)
            reason, hint = describe_state(code)
            verdict = WarlockError(
                f"SteamCMD could not install app {app_id}: {reason} (state 0x{code:x})",
                hint=hint.format(dir=where),
            )
        elif (m := _FAILED.search(line)) and int(m[1]) == app_id:
            hint = _REASONS.get(m[2].lower(), "retry; see the SteamCMD output with --debug")
            verdict = WarlockError(
                f"SteamCMD could not install app {app_id}: {m[2]}", hint=hint.format(dir=where)
            )
    return verdict


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output"


def manifest_buildid(text: str) -> str:
    """`buildid` of an appmanifest_<id>.acf."""
    build = vdf.get_str(vdf.loads(text), "AppState", "buildid")
    if not build or not build.isdigit():
        raise vdf.VdfError(f"no numeric buildid in the app manifest (found {build!r})")
    return build


def remote_buildid(output: str, app_id: int, branch: str) -> str:
    """The branch's buildid in `app_info_print` output (console noise around the tree)."""
    info = vdf.find_block(output, str(app_id))
    if info is None:
        raise NotFound(
            f"SteamCMD printed no app info for app {app_id}",
            hint="check install.app_id; if it is right, Steam may be busy: retry",
        )
    branches = vdf.get_dict(info, "depots", "branches") or {}
    build = vdf.get_str(branches, branch, "buildid")
    if not build or not build.isdigit():
        raise NotFound(
            f"Steam app {app_id} has no branch {branch!r}",
            hint="its branches are " + (", ".join(branches) or "not listed"),
        )
    return build


# Side effects.


def find_binary() -> str:
    """steamcmd on PATH first (so tests and admins can put theirs first), then the usual."""
    found = shutil.which("steamcmd")
    if found:
        return os.path.abspath(found)
    for candidate in CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    raise NotFound(
        "steamcmd is not installed",
        hint="apt-get install steamcmd (Debian contrib/non-free, after "
        "`dpkg --add-architecture i386`), or put steamcmd on PATH",
    )


def _env(binary: str, apps_dir: Path, guid: str) -> dict[str, str]:
    """A clean environment; HOME is where SteamCMD keeps itself (~/Steam, ~/.steam)."""
    home = app_dir(apps_dir, guid) / ".steam-home"
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = f"{os.path.dirname(binary)}:{_SYSTEM_PATH}"
    return {"PATH": path, "HOME": str(home), "LC_ALL": "C.UTF-8"}


def progress_of(line: str) -> tuple[int, int] | None:
    """(done, total) from SteamCMD's `Update state (0x61) downloading, progress: 38.46
    (14022978153 / 36460775173)`; None for other lines and for 0 / 0."""
    m = _PROGRESS_RE.search(line)
    return (int(m.group(1)), int(m.group(2))) if m and int(m.group(2)) > 0 else None


def install(
    spec: InstallSpec, apps_dir: Path, guid: str, log: Log, progress: Progress | None = None
) -> Build:
    app_id = _checked(spec)
    binary = find_binary()
    env = _env(binary, apps_dir, guid)
    base = installed(spec, apps_dir, guid)
    with staging(apps_dir, guid) as staged:
        if base:  # SteamCMD updates in place: start from a copy, download only the changes
            log(f"copying build {base.build_id} as the base of the update")
            run(["cp", "-a", "--reflink=auto", "--", f"{base.path}/.", str(staged)],
                timeout=INSTALL_TIMEOUT)  # fmt: skip
        log(f"steamcmd: installing app {app_id} ({spec.branch}) into {staged.parent}")
        argv = update_argv(binary, spec, staged.absolute())

        def seen(line: str) -> None:
            if progress and (step := progress_of(line)):
                progress(*step)

        output = run(argv, timeout=INSTALL_TIMEOUT, check=False, env=env,
                     on_line=seen if progress else None)  # fmt: skip
        error = update_failure(output, app_id, staged.parent)
        if error:
            raise error
        manifest = staged / "steamapps" / f"appmanifest_{app_id}.acf"
        try:
            build_id = manifest_buildid(manifest.read_text(errors="replace"))
        except FileNotFoundError:
            raise CommandError(
                f"SteamCMD reported success but wrote no {manifest.name}",
                hint="retry; if it persists, delete " + env["HOME"],
            ) from None
        except vdf.VdfError as e:
            raise vdf.VdfError(f"{manifest.name} from SteamCMD: {e.message}") from None
        path = promote(staged, apps_dir, guid, build_id)
    log(f"steamcmd: app {app_id} build {build_id} is in {path}")
    return Build(path, build_id)


def installed(spec: InstallSpec, apps_dir: Path, guid: str) -> Build | None:
    app_id = _checked(spec)
    build_id = current_build(apps_dir, guid)
    if build_id is None:
        return None
    path = build_dir(apps_dir, guid, build_id)
    if not (path / "steamapps" / f"appmanifest_{app_id}.acf").is_file():
        return None  # the current build is of another app id: the manifest changed
    return Build(path, build_id)


def check_update(spec: InstallSpec, apps_dir: Path, guid: str) -> str | None:
    app_id = _checked(spec)
    binary = find_binary()
    output = run(info_argv(binary, spec), timeout=INFO_TIMEOUT, check=False,
                 env=_env(binary, apps_dir, guid))  # fmt: skip
    remote = remote_buildid(output, app_id, spec.branch)
    current = installed(spec, apps_dir, guid)
    return None if current and current.build_id == remote else remote
