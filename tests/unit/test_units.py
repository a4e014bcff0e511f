from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.support import GOLDEN, ID_A, INSTALLED, TEMPLATES, example_app, make_paths
from warlockd import units
from warlockd.apps import App
from warlockd.errors import InvalidInput
from warlockd.model import Instance, Limits

SYSTEM_TEMPLATE_DIRS = (Path("/lib/systemd/system"), Path("/usr/lib/systemd/system"))
ANALYZE = shutil.which("systemd-analyze")


def _inst(**changes: object) -> Instance:
    return Instance(
        id=ID_A,
        app=example_app().guid,
        name="Golden",
        path="/srv/games/golden",
        ports={"game": 30000},
        created_at="2025-01-01T00:00:00+00:00",
    ).with_(**changes)


CASES = {
    "plain": _inst(),
    "limits": _inst(
        limits=Limits(cpu_quota=150, memory_max="2G", tasks_max=256, cpu_affinity="0-1,3")
    ),
    # made by an earlier version and running when setup moved the others: its files move
    # into data/ as root before it starts again
    "layout1": _inst(layout=1),
    "quoting": _inst(
        name='50% "best" \\ server',
        env={"GREETING": 'say "hi" to $USER', "PRICE": "$5%", "MAX_PLAYERS": "8"},
    ),
}


INSTALL = Path("/usr/share/warlockd/bundled/example")


def _render(inst: Instance, app: App) -> str:
    """Rendered with the package root replaced, so golden files hold for any checkout."""
    text = units.render_dropin(inst, app, INSTALLED, INSTALL).conf
    return text.replace(str(units.PACKAGE_ROOT), "@PACKAGE_ROOT@")


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_rendered_dropin_matches_its_golden_file(case: str) -> None:
    text = _render(CASES[case], example_app())
    golden = GOLDEN / f"dropin-{case}.conf"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text(), f"run with UPDATE_GOLDEN=1 to accept, then review {golden}"


def test_the_admins_env_overrides_the_manifests() -> None:
    text = _render(CASES["quoting"], example_app())
    assert 'Environment="MAX_PLAYERS=8"\n' in text
    assert "MAX_PLAYERS=16" not in text


def test_unset_limits_leave_no_lines() -> None:
    text = _render(_inst(limits=Limits(memory_max="1G")), example_app())
    assert "MemoryMax=1G\n" in text
    assert "CPUQuota" not in text and "TasksMax" not in text and "CPUAffinity" not in text


def test_a_name_with_a_control_character_is_refused_by_the_renderer() -> None:
    with pytest.raises(InvalidInput):
        _render(_inst(name="a\nExecStart=/bin/sh"), example_app())


def test_an_env_value_with_a_newline_is_refused_by_the_renderer() -> None:
    with pytest.raises(InvalidInput):
        _render(_inst(env={"A": "x\nExecStart=/bin/sh"}), example_app())


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("/usr/bin/python3", '"/usr/bin/python3"'),
        ("a b", '"a b"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("100%", '"100%%"'),
        ("$HOME", '"$$HOME"'),
        ("${X}", '"$${X}"'),
        (";", '";"'),
        ("", '""'),
    ],
)
def test_quote_arg_escapes_quotes_backslashes_specifiers_and_variables(
    value: str, quoted: str
) -> None:
    assert units.quote_arg(value) == quoted


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("plain", '"K=plain"'),
        ('say "hi"', '"K=say \\"hi\\""'),
        ("back\\slash", '"K=back\\\\slash"'),
        ("100%", '"K=100%%"'),
        ("$HOME", '"K=$HOME"'),  # Environment= does not expand variables
    ],
)
def test_quote_env_escapes_quotes_backslashes_and_specifiers(value: str, quoted: str) -> None:
    assert units.quote_env("K", value) == quoted


@pytest.mark.parametrize("quote", [units.quote_arg, lambda v: units.quote_env("K", v)])
def test_quoting_refuses_control_characters(quote: object) -> None:
    assert callable(quote)
    with pytest.raises(InvalidInput):
        quote("a\nb")


@pytest.mark.parametrize(
    "path", ["/srv/games/x", "/var/lib/warlock/instances/default", "/a_b/c-d.e@f+g"]
)
def test_validate_dir_accepts_absolute_normal_paths(path: str) -> None:
    assert units.validate_dir(path) == path


def test_validate_dir_drops_a_trailing_slash() -> None:
    assert units.validate_dir("/srv/games/x/") == "/srv/games/x"


@pytest.mark.parametrize(
    "path",
    [
        "relative",
        "srv/games",
        "./x",
        "/srv/../etc",
        "/srv/./x",
        "/srv//x",
        "//srv/x",
        "/srv/my games",
        "/srv/100%",
        "/srv/a\nb",
        "/srv/$HOME",
        '/srv/"x"',
        "/",
        "",
    ],
)
def test_validate_dir_refuses_paths_a_unit_file_cannot_hold(path: str) -> None:
    with pytest.raises(InvalidInput):
        units.validate_dir(path)


def test_write_and_remove_dropin(tmp_path: Path) -> None:
    paths = make_paths(tmp_path)
    inst = _inst()
    target = units.write_dropin(paths, inst, units.Dropin("[Service]\n", ""))
    assert target == tmp_path / "units" / f"game@{ID_A}.service.d" / "50-warlock.conf"
    assert target.read_text() == "[Service]\n"
    units.remove_dropin(paths, inst)
    assert list((tmp_path / "units").iterdir()) == []
    units.remove_dropin(paths, inst)  # already gone: fine


def test_remove_dropin_leaves_the_admins_own_dropin_and_its_directory(tmp_path: Path) -> None:
    paths = make_paths(tmp_path)
    inst = _inst()
    target = units.write_dropin(paths, inst, units.Dropin("[Service]\n", ""))
    custom = target.parent / "60-custom.conf"
    custom.write_text("[Service]\nNice=5\n")
    units.remove_dropin(paths, inst)
    assert not target.exists()
    assert custom.read_text() == "[Service]\nNice=5\n"


@pytest.mark.skipif(
    any((d / units.TEMPLATE).exists() for d in SYSTEM_TEMPLATE_DIRS),
    reason="a package installed game@.service on this host",
)
def test_install_template_copies_the_template_when_missing(tmp_path: Path) -> None:
    paths = make_paths(tmp_path)
    target = units.install_template(paths)
    assert target == paths.units / "game@.service"
    assert target.read_text() == (TEMPLATES / "game@.service").read_text()
    assert units.install_template(paths) is None  # already there: left alone
    assert units.template_installed(paths)


def _verify(tmp_path: Path, dropin: str) -> subprocess.CompletedProcess[str]:
    assert ANALYZE
    unit = tmp_path / f"game@{ID_A}.service"
    shutil.copy(TEMPLATES / "game@.service", unit)
    (tmp_path / f"{unit.name}.d").mkdir(exist_ok=True)
    (tmp_path / f"{unit.name}.d" / "50-warlock.conf").write_text(dropin)
    return subprocess.run(
        [ANALYZE, "verify", "--man=no", "--recursive-errors=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )


def _runnable(inst: Instance) -> str:
    """The drop-in with an ExecStart that exists here: verify checks the binary."""
    app = example_app()
    app = app._replace(command=("/bin/sh", "-c", "exec sleep 1", "x y;", ";", "$x"))
    return _render(inst, app)


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("case", sorted(CASES))
def test_systemd_analyze_verify_accepts_the_template_with_the_dropin(
    tmp_path: Path, case: str
) -> None:
    result = _verify(tmp_path, _runnable(CASES[case]))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize(
    "breakage",
    [
        "",  # no drop-in at all: the template alone has no ExecStart and must be refused
        '[Service]\nEnvironment="A=unbalanced\n',
        '[Service]\nEnvironment="A=ends in a backslash\\"\n',  # an unescaped backslash
        '[Service]\nExecStart=\nExecStart="/bin/sh" "unbalanced\n',
        "[Service]\nWorkingDirectory=relative\n",
    ],
)
def test_systemd_analyze_verify_catches_a_broken_dropin(tmp_path: Path, breakage: str) -> None:
    dropin = _runnable(_inst()) + breakage if breakage else ""
    result = _verify(tmp_path, dropin)
    assert result.returncode != 0


def test_render_values_expands_templates_and_keeps_literals_as_jinja2_would() -> None:
    import jinja2

    values = {
        "a": "/usr/bin/python3",
        "b": "{{ path }}/run",
        "c": "+set",
        "d": "two lines\n",
        "e": "50%",
        "f": "{# a comment #}x",
    }
    ctx = {"path": "/srv/x"}
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    expected = {k: env.from_string(v).render(ctx) for k, v in values.items()}
    assert units.render_values(values, ctx) == expected
    assert expected["b"] == "/srv/x/run" and expected["f"] == "x"


RCON = "Rc0nSecretValue1234x"


def _openarena(tmp_path: Path) -> tuple[Instance, App, units.Dropin]:
    from tests.unit.support import INSTALLERS
    from warlockd.apps import load_manifest

    app = load_manifest(INSTALLERS / "openarena.toml")
    inst = _inst(app=app.guid, ports={"game": 27960}, secrets={"rcon_password": RCON})
    return inst, app, units.render_dropin(inst, app, make_paths(tmp_path), INSTALL)


def test_secrets_stay_out_of_the_world_readable_dropin(tmp_path: Path) -> None:
    _, _, dropin = _openarena(tmp_path)
    assert RCON not in dropin.conf
    secrets = tmp_path / "units" / f"game@{ID_A}.service.d" / "secrets.env"
    assert f"EnvironmentFile={secrets}\n" in dropin.conf
    # the game's argument names the variable; systemd fills it in at start
    assert '"rconpassword" "${WARLOCK_SECRET_RCON_PASSWORD}"' in dropin.conf
    assert "WARLOCK_RCON_PASSWORD" not in dropin.conf  # the runner's copy is hidden too
    assert dropin.secrets.splitlines()[1:] == [
        f'WARLOCK_SECRET_RCON_PASSWORD="{RCON}"',
        f'WARLOCK_RCON_PASSWORD="{RCON}"',
    ]


def test_an_instance_without_secrets_has_no_secrets_file() -> None:
    dropin = units.render_dropin(_inst(), example_app(), INSTALLED, INSTALL)
    assert dropin.secrets == "" and "EnvironmentFile" not in dropin.conf


def test_a_secret_inside_a_longer_argument_is_replaced_and_the_rest_still_escaped() -> None:
    arg = f"Map?Admin={RCON}?Cost=$5%"
    quoted = units.quote_arg(arg, {"admin_password": RCON})
    assert quoted == '"Map?Admin=${WARLOCK_SECRET_ADMIN_PASSWORD}?Cost=$$5%%"'
    assert units.quote_arg(arg) == f'"Map?Admin={RCON}?Cost=$$5%%"'


def test_env_file_lines_escape_what_systemd_would_read_otherwise() -> None:
    line = units.env_file_line("A", 'say "hi" \\ to $USER `now` 50%')
    assert line == 'A="say \\"hi\\" \\\\ to \\$USER \\`now\\` 50%"\n'
    with pytest.raises(InvalidInput):
        units.env_file_line("A", "two\nlines")


def test_the_secrets_file_is_root_only_and_goes_with_the_dropin(tmp_path: Path) -> None:
    paths = make_paths(tmp_path)
    inst, _, dropin = _openarena(tmp_path)
    target = units.write_dropin(paths, inst, dropin)
    secrets = target.parent / "secrets.env"
    assert secrets.stat().st_mode & 0o777 == 0o600
    assert target.stat().st_mode & 0o777 == 0o644
    assert secrets.read_text() == dropin.secrets
    # rewritten without secrets (a manifest that dropped them): the old file goes
    units.write_dropin(paths, inst, dropin._replace(secrets=""))
    assert not secrets.exists()
    units.write_dropin(paths, inst, dropin)
    units.remove_dropin(paths, inst)
    assert list((tmp_path / "units").iterdir()) == []


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_accepts_a_dropin_with_a_secrets_file(tmp_path: Path) -> None:
    inst, app, _ = _openarena(tmp_path)
    app = app._replace(
        command=("/bin/sh", "-c", "exec sleep 1", "x", "{{ secrets.rcon_password }}")
    )
    dropin = units.render_dropin(inst, app, make_paths(tmp_path)._replace(units=tmp_path), INSTALL)
    (tmp_path / f"game@{ID_A}.service.d").mkdir()
    (tmp_path / f"game@{ID_A}.service.d" / "secrets.env").write_text(dropin.secrets)
    result = _verify(tmp_path, dropin.conf.replace(str(units.PACKAGE_ROOT), "@PACKAGE_ROOT@"))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
