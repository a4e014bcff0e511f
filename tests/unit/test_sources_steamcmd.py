"""The SteamCMD source against a fake steamcmd replaying real console transcripts."""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from warlockd.errors import InvalidInput, NotFound, WarlockError
from warlockd.sources import CURRENT, Build, InstallSpec, check_update, install, installed
from warlockd.sources import steamcmd as sc

REPO = Path(__file__).resolve().parents[2]
FAKE = REPO / "tests" / "fakes" / "steamcmd"
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "steamcmd"
GUID = "0f4b6c1e-9a2d-4e3f-8b7c-1d2e3f4a5b6c"
pytestmark = pytest.mark.skipif(
    not FIXTURES.is_dir(), reason=f"SteamCMD fixtures not found at {FIXTURES}"
)

Fake = Callable[..., Path]


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fake:
    """Put a `steamcmd` first on PATH that runs the fake with the given settings.

    warlockd hands steamcmd a clean environment, so the settings travel in the wrapper.
    Returns the file where the fake logs each call's argv and HOME.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")

    def configure(transcript: str = "", exit: int = 0, buildid: str = "1000") -> Path:
        env = {
            "FAKE_STEAMCMD_TRANSCRIPT": transcript,
            "FAKE_STEAMCMD_EXIT": str(exit),
            "FAKE_STEAMCMD_BUILDID": buildid,
            "FAKE_STEAMCMD_FIXTURES": str(FIXTURES),
            "FAKE_STEAMCMD_LOG": str(calls),
        }
        lines = [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
        script = bin_dir / "steamcmd"
        script.write_text(
            "#!/bin/sh\n" + "\n".join(lines) + "\n"
            f'exec {shlex.quote(sys.executable)} {shlex.quote(str(FAKE))} "$@"\n'
        )
        script.chmod(0o755)
        return calls

    return configure


def steam(app_id: int, **kw: str) -> InstallSpec:
    return InstallSpec("steamcmd", app_id=app_id, **kw)  # type: ignore[arg-type]


def calls_of(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def leftovers(apps: Path) -> list[str]:
    """What is in the app's directory besides builds: staging or downloads must not be."""
    app = apps / GUID
    return sorted(p.name for p in app.iterdir() if p.name.startswith(".")) if app.exists() else []


def test_success_after_a_self_update_gives_a_build_named_by_its_buildid(
    tmp_path: Path, fake: Fake
) -> None:
    calls = fake("app_update_success_with_selfupdate.txt", buildid="12345")
    apps, messages = tmp_path / "apps", list[str]()
    build = install(steam(622970), apps, GUID, messages.append)
    assert build == Build(apps / GUID / "12345", "12345")
    assert (build.path / "FakeServer.sh").read_text().startswith("#!/bin/sh")
    assert (build.path / "steamapps" / "appmanifest_622970.acf").is_file()
    assert oct(build.path.stat().st_mode & 0o777) == "0o755"
    assert (apps / GUID / CURRENT).read_text() == "12345\n"
    assert leftovers(apps) == [".current", ".steam-home"]
    assert (apps / GUID / ".steam-home" / "Steam" / "logs").is_dir()  # HOME is ours
    assert installed(steam(622970), apps, GUID) == build
    assert any("12345" in m for m in messages)
    (call,) = calls_of(calls)
    argv = call["argv"]
    assert isinstance(argv, list)
    assert argv[0] == "+force_install_dir" and Path(argv[1]).name.startswith(".staging-")
    assert argv[2:] == ["+login", "anonymous", "+app_update", "622970", "validate", "+quit"]
    assert call["home"] == str(apps / GUID / ".steam-home")


def test_a_crash_after_success_still_counts_as_installed(tmp_path: Path, fake: Fake) -> None:
    fake("app_update_success_then_segfault.txt", exit=139, buildid="4120557")
    build = install(steam(740), tmp_path / "apps", GUID, lambda m: None)
    assert build.build_id == "4120557"
    assert build.path.is_dir()


@pytest.mark.parametrize(
    ("transcript", "app_id", "exit", "message", "hint"),
    [
        ("app_update_error_0x202_disk_space.txt", 740, 8,
         "SteamCMD could not install app 740: not enough disk space (state 0x202)", "free space"),
        ("app_update_error_0x202_login_user.txt", 730, 8,
         "SteamCMD could not install app 730: not enough disk space (state 0x202)", "free space"),
        ("app_update_error_0x402_connection.txt", 730, 8,
         "SteamCMD could not install app 730: the download was interrupted (network or Steam)"
         " (state 0x402)", "network"),
        ("app_update_error_0x602_stopping.txt", 740, 0,
         "SteamCMD could not install app 740: the update did not complete: files could not be"
         " written or validated (state 0x602)", "writable"),
        ("app_update_error_0x602_preallocating.txt", 730, 8,
         "SteamCMD could not install app 730: the update did not complete: files could not be"
         " written or validated (state 0x602)", "writable"),
        ("app_update_error_disk_write_failure.txt", 740, 0,
         "SteamCMD could not install app 740: Disk write failure", "writable"),
    ],
)  # fmt: skip
def test_failures_are_one_line_with_a_hint_and_leave_no_staging(
    tmp_path: Path, fake: Fake, transcript: str, app_id: int, exit: int, message: str, hint: str
) -> None:
    fake(transcript, exit=exit)
    apps = tmp_path / "apps"
    with pytest.raises(WarlockError) as e:
        install(steam(app_id), apps, GUID, lambda m: None)
    assert e.value.message == message
    assert e.value.hint is not None and hint in e.value.hint
    assert "\n" not in str(e.value)
    assert leftovers(apps) == [".steam-home"]
    assert [p.name for p in (apps / GUID).iterdir() if not p.name.startswith(".")] == []
    assert installed(steam(app_id), apps, GUID) is None


def test_an_update_starts_from_the_current_build_and_keeps_it(tmp_path: Path, fake: Fake) -> None:
    apps = tmp_path / "apps"
    fake("app_update_success_no_selfupdate.txt", buildid="100")
    old = install(steam(622970), apps, GUID, lambda m: None)
    (old.path / "saved-by-the-old-build.txt").write_text("x")
    fake("app_update_success_no_selfupdate.txt", buildid="200")
    new = install(steam(622970), apps, GUID, lambda m: None)
    assert new == Build(apps / GUID / "200", "200")
    assert (new.path / "saved-by-the-old-build.txt").is_file()  # seeded from the old build
    assert old.path.is_dir()  # instances still on it keep running
    assert installed(steam(622970), apps, GUID) == new
    fake("app_update_success_no_selfupdate.txt", buildid="200")
    assert install(steam(622970), apps, GUID, lambda m: None) == new  # same build: reused
    assert leftovers(apps) == [".current", ".steam-home"]


def test_a_failed_update_keeps_the_current_build(tmp_path: Path, fake: Fake) -> None:
    apps = tmp_path / "apps"
    fake("app_update_success_then_segfault.txt", buildid="100")
    old = install(steam(740), apps, GUID, lambda m: None)
    fake("app_update_error_0x402_connection.txt")
    with pytest.raises(WarlockError):
        install(steam(730), apps, GUID, lambda m: None)
    fake("app_update_error_0x202_disk_space.txt")
    with pytest.raises(WarlockError, match="disk space"):
        install(steam(740), apps, GUID, lambda m: None)
    assert installed(steam(740), apps, GUID) == old
    assert leftovers(apps) == [".current", ".steam-home"]


def test_branch_and_platform_reach_the_command_line(tmp_path: Path, fake: Fake) -> None:
    calls = fake("app_update_success_then_segfault.txt", buildid="7")
    spec = steam(740, branch="experimental", platform="windows")
    install(spec, tmp_path / "apps", GUID, lambda m: None)
    argv = calls_of(calls)[0]["argv"]
    assert isinstance(argv, list)
    assert argv[:2] == ["+@sSteamCmdForcePlatformType", "windows"]
    assert argv.index("+force_install_dir") < argv.index("+login")
    assert argv[-5:] == ["740", "-beta", "experimental", "validate", "+quit"]


def _installed_build(apps: Path, app_id: int, build_id: str) -> None:
    steamapps = apps / GUID / build_id / "steamapps"
    steamapps.mkdir(parents=True)
    (steamapps / f"appmanifest_{app_id}.acf").write_text(
        f'"AppState"\n{{\n\t"appid"\t\t"{app_id}"\n\t"buildid"\t\t"{build_id}"\n}}\n'
    )
    (apps / GUID / CURRENT).write_text(build_id + "\n")


def test_check_update_names_the_newer_public_build(tmp_path: Path, fake: Fake) -> None:
    calls = fake()
    apps = tmp_path / "apps"
    _installed_build(apps, 2131400, "20000000")
    assert check_update(steam(2131400), apps, GUID) == "20727232"
    assert check_update(steam(2131400, branch="experimental"), apps, GUID) == "20729593"
    argv = calls_of(calls)[0]["argv"]
    assert argv == ["+login", "anonymous", "+app_info_update", "1",
                    "+app_info_print", "2131400", "+quit"]  # fmt: skip


def test_check_update_is_none_when_the_installed_build_is_current(
    tmp_path: Path, fake: Fake
) -> None:
    fake()
    apps = tmp_path / "apps"
    _installed_build(apps, 2131400, "20727232")
    assert check_update(steam(2131400), apps, GUID) is None


def test_check_update_without_an_install_names_the_remote_build(tmp_path: Path, fake: Fake) -> None:
    fake()
    assert check_update(steam(2131400), tmp_path / "apps", GUID) == "20727232"


def test_check_update_refuses_unknown_branches_and_apps(tmp_path: Path, fake: Fake) -> None:
    fake()
    with pytest.raises(NotFound, match="has no branch 'nosuch'") as e:
        check_update(steam(2131400, branch="nosuch"), tmp_path / "apps", GUID)
    assert e.value.hint == "its branches are public, experimental"
    with pytest.raises(NotFound, match="printed no app info for app 740"):
        check_update(steam(740), tmp_path / "apps", GUID)


def test_a_missing_steamcmd_is_one_line_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if any(os.access(c, os.X_OK) for c in sc.CANDIDATES):
        pytest.skip("this host has a real steamcmd")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NotFound) as e:
        install(steam(740), tmp_path / "apps", GUID, lambda m: None)
    assert e.value.message == "steamcmd is not installed"
    assert e.value.hint is not None and "apt-get install steamcmd" in e.value.hint
    assert not (tmp_path / "apps").exists()


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        (InstallSpec("steamcmd"), "install.app_id"),
        (steam(740, branch="-beta x"), "install.branch"),
        (steam(740, login="a b"), "install.login"),
        (steam(740, platform="amiga"), "install.platform"),
    ],
)
def test_specs_that_could_inject_commands_are_refused(
    tmp_path: Path, spec: InstallSpec, problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem):
        sc.update_argv("/x/steamcmd", spec, tmp_path)


def test_output_without_a_verdict_names_its_last_line() -> None:
    error = sc.update_failure(
        "Loading Steam API...OK\nLogin Failure: Rate Limit Exceeded\n", 740, Path("/d")
    )
    assert error is not None
    assert (
        error.message == "SteamCMD gave no result for app 740: Login Failure: Rate Limit Exceeded"
    )


def test_verdicts_for_other_apps_are_ignored_and_the_last_one_wins() -> None:
    out = "Success! App '740' fully installed.\nError! App '740' state is 0x6 after update job.\n"
    error = sc.update_failure(out, 740, Path("/d"))
    assert error is not None
    assert error.message == (
        "SteamCMD could not install app 740: the update did not complete "
        "(update required, fully installed) (state 0x6)"
    )
    assert sc.update_failure("Success! App '740' already up to date.\n", 740, Path("/d")) is None
    assert sc.update_failure("Success! App '730' fully installed.\n", 740, Path("/d")) is not None


def test_a_manifest_without_a_numeric_buildid_is_refused() -> None:
    with pytest.raises(WarlockError, match="no numeric buildid"):
        sc.manifest_buildid('"AppState" { "buildid" "../x" }')


def test_the_download_progress_reaches_the_caller_as_steamcmd_prints_it(
    tmp_path: Path, fake: Fake
) -> None:
    fake("app_update_success_download_verify_commit.txt", buildid="9")
    seen: list[tuple[int, int | None]] = []
    install(steam(740), tmp_path / "apps", GUID, print, lambda d, t: seen.append((d, t)))
    text = (FIXTURES / "app_update_success_download_verify_commit.txt").read_text()
    printed = [tuple(int(n) for n in line.rsplit("(", 1)[1].rstrip(")").split(" / "))
               for line in text.splitlines() if "progress:" in line]  # fmt: skip
    assert seen == [p for p in printed if p[1] > 0] and len(seen) > 20  # in order, 0 / 0 not


def test_progress_lines_are_read_and_others_are_not() -> None:
    line = " Update state (0x61) downloading, progress: 38.46 (14022978153 / 36460775173)"
    assert sc.progress_of(line) == (14022978153, 36460775173)
    assert sc.progress_of(" Update state (0x3) reconfiguring, progress: 0.00 (0 / 0)") is None
    assert sc.progress_of("Success! App '740' fully installed.") is None
