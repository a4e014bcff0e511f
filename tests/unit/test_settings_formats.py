"""Each file format reads one option and rewrites only its line: comments, order, blank lines,
line endings and unknown keys stay as they were (golden texts below are exact)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit import settings_samples as samples
from warlockd.errors import InvalidInput
from warlockd.settings import cfg, cli, ini, jsonfile, properties, unreal
from warlockd.settings.spec import Setting


def S(key: str, fmt: str, kind: str = "str", **kw: Any) -> Setting:
    return Setting(option=key, key=key, format=fmt, type=kind, file="f", **kw)


# ---- ini


def test_ini_write_keeps_comments_and_unknown_keys() -> None:
    text = "; top comment\n[Server]\n# why\nName=old\nUnknown=1\n\n[Other]\nName=other\n"
    out = ini.write(text, S("Name", "ini", section="Server"), "new name")
    assert (
        out == "; top comment\n[Server]\n# why\nName=new name\nUnknown=1\n\n[Other]\nName=other\n"
    )


def test_ini_adds_a_missing_key_at_the_end_of_its_section_and_a_missing_section_at_the_end() -> (
    None
):
    text = "[A]\nx=1\n\n[B]\ny=2\n"
    out = ini.write(text, S("z", "ini", "int", section="A"), 3)
    assert out == "[A]\nx=1\nz=3\n\n[B]\ny=2\n"
    out = ini.write(out, S("w", "ini", section="C"), "v")
    assert out == "[A]\nx=1\nz=3\n\n[B]\ny=2\n\n[C]\nw=v\n"
    assert ini.write("", S("k", "ini", section="S"), "v") == "[S]\nk=v\n"
    assert ini.write("top=1", S("k", "ini"), "v") == "top=1\nk=v\n"  # keys before any section


def test_ini_golden_edit_of_an_ark_file_keeps_crlf_and_the_rest_byte_for_byte() -> None:
    out = ini.write(samples.ARK, S("ServerPassword", "ini", section="ServerSettings"), "hunter2")
    out = ini.write(out, S("ServerPVE", "ini", "bool", section="ServerSettings"), True)
    out = ini.write(out, S("XPMultiplier", "ini", "float", section="serversettings"), 2.5)
    expected = (
        samples.ARK.replace("ServerPassword=\r\n", "ServerPassword=hunter2\r\n")
        .replace("ServerPVE=False", "ServerPVE=True")
        .replace("XPMultiplier=1.500000", "XPMultiplier=2.500000")
    )
    assert out == expected


def test_ini_reads_a_semicolon_inside_a_value_as_part_of_it() -> None:
    setting = S("SessionName", "ini", section="SessionSettings")
    assert ini.read(samples.ARK, setting) == "My ARK: Server ; not a comment"
    assert ini.read(samples.ARK, S("Message", "ini", section="MessageOfTheDay")) == (
        "Welcome!\\nNo griefing"
    )


def test_ini_matches_sections_and_keys_without_regard_to_case_and_the_last_copy_wins() -> None:
    text = "[server]\nMAXPLAYERS=10\nmaxplayers=12\n"
    setting = S("MaxPlayers", "ini", "int", section="Server")
    assert ini.read(text, setting) == 12
    assert ini.write(text, setting, 5) == "[server]\nMAXPLAYERS=5\nmaxplayers=5\n"


def test_ini_keeps_the_bool_spelling_and_the_key_spacing_of_the_file() -> None:
    setting = S("on", "ini", "bool", section="S")
    assert ini.write("[S]\non = yes\n", setting, False) == "[S]\non = no\n"
    assert ini.write("[S]\nother = 1\n", setting, True) == "[S]\nother = 1\non = True\n"


def test_ini_unset_removes_the_key() -> None:
    assert ini.write("[S]\na=1\nb=2\n", S("a", "ini", section="S"), None) == "[S]\nb=2\n"
    assert ini.write("[S]\nb=2\n", S("a", "ini", section="S"), None) == "[S]\nb=2\n"


def test_ini_reads_none_for_a_missing_key_or_section() -> None:
    assert ini.read("[S]\na=1\n", S("b", "ini", section="S")) is None
    assert ini.read("[T]\na=1\n", S("a", "ini", section="S")) is None
    assert ini.read("", S("a", "ini", section="S")) is None


# ---- Unreal structs (Palworld)

PAL = "/Script/Pal.PalGameWorldSettings"


def P(key: str, kind: str = "str", **kw: Any) -> Setting:
    return S(key, "ini", kind, section=PAL, struct="OptionSettings", **kw)


def test_unreal_struct_field_is_replaced_in_place_and_others_stay_byte_for_byte() -> None:
    out = ini.write(samples.PALWORLD, P("ServerName"), "New name")
    assert out == samples.PALWORLD.replace('"Pals, (and) friends"', '"New name"')
    out = ini.write(samples.PALWORLD, P("ExpRate", "float"), 3.0)
    assert out == samples.PALWORLD.replace("ExpRate=2.000000", "ExpRate=3.000000")
    out = ini.write(samples.PALWORLD, P("bIsPvP", "bool"), True)
    assert out == samples.PALWORLD.replace("bIsPvP=False", "bIsPvP=True")
    out = ini.write(samples.PALWORLD, P("DeathPenalty", options=("None", "All")), "All")
    assert out == samples.PALWORLD.replace("DeathPenalty=Item", "DeathPenalty=All")


def test_unreal_struct_commas_and_parentheses_inside_quotes_do_not_split() -> None:
    assert ini.read(samples.PALWORLD, P("ServerName")) == "Pals, (and) friends"
    assert ini.read(samples.PALWORLD, P("AdminPassword")) == "adminpw"
    assert ini.read(samples.PALWORLD, P("ExpRate", "float")) == 2.0
    assert ini.read(samples.PALWORLD, P("bUseAuth", "bool")) is True
    assert ini.read(samples.PALWORLD, P("Nothing")) is None
    assert unreal.get('(A="x\\",B=1",B=2)', "B") == "2"  # an escaped quote stays inside


def test_unreal_struct_list_round_trip() -> None:
    setting = P("CrossplayPlatforms", "list")
    assert ini.read(samples.PALWORLD, setting) == ["Steam", "Xbox", "PS5", "Mac"]
    out = ini.write(samples.PALWORLD, setting, ["Steam", "Mac"])
    assert "CrossplayPlatforms=(Steam,Mac),LogFormatType=Text)" in out
    assert ini.read(out, setting) == ["Steam", "Mac"]


def test_unreal_struct_adds_a_field_and_creates_the_line_and_the_file() -> None:
    out = ini.write(samples.PALWORLD, P("NewField", "int"), 7)
    assert out.endswith(",LogFormatType=Text,NewField=7)\n")
    assert ini.write("", P("ServerName"), "x") == f'[{PAL}]\nOptionSettings=(ServerName="x")\n'
    assert ini.write("", P("ServerName"), None) == ""


def test_unreal_struct_unset_removes_only_the_field() -> None:
    out = ini.write(samples.PALWORLD, P("AdminPassword"), None)
    assert out == samples.PALWORLD.replace('AdminPassword="adminpw",', "")
    assert unreal.put("(A=1,B=2)", "B", None) == "(A=1)"
    assert unreal.put("(A=1)", "A", None) == "()"


def test_unreal_bare_field_refuses_more_than_one_word() -> None:
    with pytest.raises(InvalidInput, match="one word"):
        ini.write(samples.PALWORLD, P("DeathPenalty"), "All,ServerPassword=x")


# ---- properties, java style


def test_properties_java_golden_edit_of_server_properties() -> None:
    out = properties.write(samples.SERVER_PROPERTIES, S("max-players", "properties", "int"), 30)
    out = properties.write(out, S("motd", "properties", "text"), "Héllo: a=b #1\nline two")
    expected = samples.SERVER_PROPERTIES.replace("max-players=12", "max-players=30").replace(
        "motd=A \\u00A7bshiny\\u00A7r server", "motd=H\\u00E9llo\\: a\\=b \\#1\\nline two"
    )
    assert out == expected


def test_properties_java_reads_escapes_and_continued_lines() -> None:
    text = "a = one \\\n    two\nb:c\\:d\n  c\\ key   value\\u00e9\nd\\\\\ne=\\ x\n"
    assert properties.read(text, S("a", "properties")) == "one two"
    assert properties.read(text, S("b", "properties")) == "c:d"
    assert properties.read(text, S("c key", "properties")) == "valueé"
    assert properties.read(text, S("d\\", "properties")) == ""
    assert properties.read(text, S("e", "properties")) == " x"
    assert properties.read(samples.SERVER_PROPERTIES, S("motd", "properties")) == (
        "A §bshiny§r server"
    )
    out = properties.write(text, S("a", "properties"), "z")
    assert (
        out == "a = z\nb:c\\:d\n  c\\ key   value\\u00e9\nd\\\\\ne=\\ x\n"
    )  # both lines became one


@pytest.mark.parametrize(
    "value", ["plain", " lead", "a\\b", "x=y:z", "#!", "tab\there", "é€😀", "two\nlines", ""]
)
def test_properties_java_escapes_what_it_writes_and_reads_it_back(value: str) -> None:
    setting = S("k", "properties", "text")
    out = properties.write("# c\nk=old\nother=1\n", setting, value)
    assert properties.read(out, setting) == value
    assert out.count("\n") == 3 and out.startswith("# c\nk=") and out.endswith("other=1\n")
    assert out.isascii()


def test_properties_keep_the_bool_spelling_and_add_a_missing_key_at_the_end() -> None:
    eula = S("eula", "properties", "bool")
    assert properties.read(samples.EULA, eula) is False
    assert properties.write(samples.EULA, eula, True) == samples.EULA.replace("=false", "=true")
    assert properties.write("x=1", S("y", "properties"), "2") == "x=1\ny=2\n"
    assert properties.write("x = 1\n", S("y", "properties"), "2") == "x = 1\ny = 2\n"


# ---- properties, plain style (Minetest, Project Zomboid)


def M(key: str, kind: str = "str") -> Setting:
    return S(key, "properties", kind, style="plain")


def test_properties_plain_skips_minetest_groups_and_blocks() -> None:
    text = samples.MINETEST_CONF
    assert properties.read(text, M("max_users", "int")) == 10  # not the 99 inside the group
    assert properties.read(text, M("motd")) == "Welcome to Minetest. Enjoy your stay!"
    assert properties.read(text, M("server_url")) is None  # a block: not editable here
    assert properties.read(text, M("default_privs", "list")) == ["interact", "shout"]
    out = properties.write(text, M("motd"), "Hello")
    assert out == text.replace("motd = Welcome to Minetest. Enjoy your stay!", "motd = Hello")
    out = properties.write(text, M("max_users", "int"), 20)
    assert out == text.replace("max_users = 10", "max_users = 20")


def test_properties_plain_takes_backslashes_and_hashes_literally() -> None:
    text = samples.SERVERTEST_INI
    assert properties.read(text, M("Map")) == "Muldraugh, KY"
    out = properties.write(text, M("PublicDescription"), "C:\\games #1 \\n")
    assert "\nPublicDescription=C:\\games #1 \\n\n" in out
    assert properties.read(out, M("PublicDescription")) == "C:\\games #1 \\n"
    out = properties.write(text, M("PVP", "bool"), True)
    assert out == text.replace("PVP=false", "PVP=true")


# ---- json


def J(key: str, kind: str = "str", **kw: Any) -> Setting:
    return S(key, "json", kind, **kw)


def test_json_keeps_key_order_and_indentation() -> None:
    out = jsonfile.write(samples.EXAMPLE_JSON, J("max_players", "int"), 20)
    assert out == samples.EXAMPLE_JSON.replace('"max_players": 8', '"max_players": 20').replace(
        '{"keep": [1, 2, 3]}',
        '{\n        "keep": [\n            1,\n            2,\n            3\n        ]\n    }',
    )
    out = jsonfile.write(out, J("motd", "text"), "two\nlines")
    assert out.endswith('    "map": "arena",\n    "motd": "two\\nlines"\n}\n')
    assert jsonfile.read(out, J("motd", "text")) == "two\nlines"


def test_json_compact_file_stays_compact_and_a_new_file_is_indented() -> None:
    assert jsonfile.write('{"a":1}', J("b", "bool"), True) == '{"a":1,"b":true}'
    assert jsonfile.write('{"a": 1}', J("a", "int"), 2) == '{"a": 2}'
    assert jsonfile.write("", J("a", "list"), ["x"]) == '{\n  "a": [\n    "x"\n  ]\n}\n'
    assert jsonfile.write('{"a": 1, "b": 2}', J("a"), None) == '{"b": 2}'


def test_json_section_is_a_nested_object() -> None:
    setting = J("name", section="server")
    out = jsonfile.write('{"server": {"port": 1}}', setting, "x")
    assert out == '{"server": {"port": 1, "name": "x"}}'
    assert jsonfile.read(out, setting) == "x"
    assert jsonfile.read("{}", setting) is None
    assert jsonfile.write("{}", setting, "y") == '{"server": {"name": "y"}}'


def test_json_refuses_a_broken_file_or_one_that_is_not_an_object() -> None:
    with pytest.raises(InvalidInput, match="not valid JSON"):
        jsonfile.write('{"a": ', J("a"), "x")
    with pytest.raises(InvalidInput, match="JSON object"):
        jsonfile.read("[1]", J("a"))


def test_json_shows_an_object_value_as_its_json_text() -> None:
    assert jsonfile.read(samples.EXAMPLE_JSON, J("extra")) == '{"keep": [1, 2, 3]}'


# ---- cfg


def Q(key: str, kind: str = "str", style: str = "quake", **kw: Any) -> Setting:
    return S(key, "cfg", kind, style=style, **kw)


def test_cfg_quake_golden_edit_of_debians_openarena_sample() -> None:
    out = cfg.write(samples.OPENARENA_CFG, Q("sv_hostname"), "New arena")
    out = cfg.write(out, Q("sv_maxclients", "int"), 16)
    out = cfg.write(out, Q("g_password"), "pw")
    out = cfg.write(out, Q("g_doWarmup", "bool"), True)
    expected = (
        samples.OPENARENA_CFG.replace(
            'seta sv_hostname "Debian arena" // trailing',
            'seta sv_hostname "New arena" // trailing',
        )
        .replace("sv_maxclients 10", 'sv_maxclients "16"')
        .replace("g_gametype 3\n", 'g_gametype 3\nset g_password "pw"\nset g_doWarmup "1"\n')
    )
    assert out == expected
    assert '//sv_hostname "An anonymous Debian server"' in out  # a commented-out line stays
    # new lines go before the map command and its comment: latched variables apply to it


def test_cfg_reads_set_seta_and_bare_lines_and_ignores_comments() -> None:
    text = samples.OPENARENA_CFG
    assert cfg.read(text, Q("sv_hostname")) == "Debian arena"
    assert cfg.read(text, Q("SV_MAXCLIENTS", "int")) == 10  # Quake ignores case
    assert cfg.read(text, Q("g_gametype", "int")) == 3
    assert cfg.read(text, Q("g_motd")) == "Frag well"
    assert cfg.read(text, Q("fraglimit", "int")) is None
    assert cfg.read('set a "x" ; set b "y"\n', Q("a")) == "x"
    assert cfg.read("set a x y ; set b 2\n", Q("a")) == "x y"


def test_cfg_teeworlds_keeps_trailing_comments_and_quotes_values() -> None:
    text = samples.TEEWORLDS_CFG
    T = {"style": "teeworlds"}
    assert cfg.read(text, Q("sv_name", **T)) == "Teeworlds powered by Debian"
    assert cfg.read(text, Q("sv_gametype", **T)) == "ctf"
    assert cfg.read(text, Q("password", **T)) is None  # commented out
    out = cfg.write(text, Q("sv_gametype", **T), "dm")
    assert out == text.replace("sv_gametype ctf # capture", 'sv_gametype "dm" # capture')
    out = cfg.write(text, Q("password", **T), "secret")
    assert out == text + 'password "secret"\n'
    out = cfg.write(text, Q("sv_register", "bool", **T), False)
    assert out == text.replace("sv_register 1", 'sv_register "0"')


def test_cfg_teeworlds_names_are_case_sensitive_quake_and_source_ones_not() -> None:
    assert cfg.read("SV_NAME x\n", Q("sv_name", style="teeworlds")) is None
    assert cfg.read("HOSTNAME x\n", Q("hostname", style="source")) == "x"


def test_cfg_source_adds_bare_lines_at_the_end() -> None:
    text = '// server.cfg\nhostname "CS2"\nsv_cheats 0\n'
    out = cfg.write(text, Q("sv_password", style="source"), "pw")
    assert out == text + 'sv_password "pw"\n'


def test_cfg_list_is_space_separated_and_unset_removes_every_line() -> None:
    T = {"style": "teeworlds"}
    rotation = Q("sv_maprotation", "list", **T)
    assert cfg.read(samples.TEEWORLDS_CFG, rotation) == ["dm1", "dm2", "ctf1"]
    out = cfg.write(samples.TEEWORLDS_CFG, rotation, ["ctf2", "dm9"])
    assert 'sv_maprotation "ctf2 dm9"\n' in out
    assert cfg.write("a 1\nb 2\na 3\n", Q("a"), None) == "b 2\n"


# ---- cli


def test_cli_renders_values_and_template_values_fill_in_defaults() -> None:
    players = S("maxplayers", "cli", "int", default=16)
    public = S("public", "cli", "bool", default=False)
    seed = S("seed", "cli", "int")
    record = cli.write({"other": "x"}, players, 24)
    assert record == {"other": "x", "maxplayers": "24"}
    assert cli.read(record, players) == 24 and cli.read(record, seed) is None
    assert cli.write(record, players, None) == {"other": "x"}
    assert cli.template_values([players, public, seed, J("ignored")], record) == {
        "maxplayers": "24",
        "public": "false",
        "seed": "",
    }
