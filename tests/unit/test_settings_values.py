"""values.parse: command-line text to a typed value, or one clear line saying why not; and
injection attempts per format, which must never add a key or a command to a game's file."""

from __future__ import annotations

from typing import Any

import pytest

from warlockd.errors import InvalidInput
from warlockd.settings import cfg, ini, jsonfile, properties, values
from warlockd.settings.spec import Setting
from warlockd.settings.values import Value


def S(kind: str = "str", fmt: str = "json", **kw: Any) -> Setting:
    return Setting(option="Opt", key="k", format=fmt, type=kind, file="f", **kw)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("Yes", True), ("ON", True), ("1", True), (" false ", False), ("no", False),
     ("off", False), ("0", False)],
)  # fmt: skip
def test_bool_accepts_the_usual_words(text: str, expected: bool) -> None:
    assert values.parse(S("bool", default=False), text) is expected


def test_numbers_text_and_lists_convert() -> None:
    assert values.parse(S("int", default=1), " -12 ") == -12
    assert values.parse(S("float", default=1.0), "2.5") == 2.5
    assert values.parse(S("float", default=1.0), "3") == 3.0
    assert values.parse(S("text", default=""), "a\r\nb") == "a\nb"
    assert values.parse(S("list", default=[]), "a, b,,c") == ["a", "b", "c"]
    assert values.parse(S("list", default=[]), '["x y", "z"]') == ["x y", "z"]
    assert values.parse(S("str", default=""), "") == ""  # a real empty value: no password


def test_empty_text_unsets_an_option_without_default() -> None:
    assert values.parse(S("int"), "") is None
    assert values.parse(S("str"), "  ") is None


@pytest.mark.parametrize(
    ("setting", "text", "message"),
    [
        (S("bool", default=False), "maybe", "Opt: expected true or false, got 'maybe'"),
        (S("int", default=1), "1.5", "Opt: expected a whole number, got '1.5'"),
        (S("int", default=1), "", "Opt: expected a whole number, got ''"),
        (S("int", default=1), "1_000", "Opt: expected a whole number, got '1_000'"),
        (S("float", default=1.0), "nan", "Opt: expected a number, got 'nan'"),
        (S("int", default=1, min=1, max=64), "65", "Opt: 65 is out of range 1..64"),
        (S("int", default=1, min=1), "0", "Opt: 0 is out of range 1.."),
        (S("float", default=1.0, min=0.1, max=20.0), "20.5", "Opt: 20.5 is out of range 0.1..20"),
        (S(default="a", options=("a", "b")), "c", "Opt: 'c' is not one of a, b"),
        (S("int", default=0, options=(0, 1)), "2", "Opt: '2' is not one of 0, 1"),
        (S("list", default=[], options=("x", "y")), "x,z", "Opt: 'z' is not one of x, y"),
        (S("list", default=[]), "[1, 2]", "Opt: expected a JSON list of strings"),
        (S(default=""), "a\x00b", "Opt: the value contains a NUL character"),
        (S(default=""), "a\x1bb", "Opt: the value contains the control character '\\x1b'"),
        (S(default=""), "a\u2028b", "Opt: the value contains the control character"),
        (S(default=""), "two\nlines", "Opt: format json cannot hold a line break in a value"),
    ],
)
def test_every_refusal_is_one_line_that_names_the_option(
    setting: Setting, text: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as e:
        values.parse(setting, text)
    assert e.value.message.startswith(message)
    assert "\n" not in str(e.value)


def test_text_may_hold_line_breaks_only_where_the_format_escapes_them() -> None:
    assert values.parse(S("text", "json", default=""), "a\nb") == "a\nb"
    java = S("text", "properties", default="", style="java")
    assert values.parse(java, "a\nb") == "a\nb"
    for fmt, style in (("ini", ""), ("cfg", "quake"), ("properties", "plain"), ("cli", "")):
        with pytest.raises(InvalidInput, match="cannot hold a line break"):
            values.parse(S("text", fmt, default="", style=style), "a\nb")


# Each attempt would, if written as it stands, add a key or a command to the game's file.
INJECTIONS = [
    ("ini", "", "x\nServerAdminPassword=owned"),
    ("ini", "", "x\r[ServerSettings]"),
    ("ini", "", '"quoted"'),
    ("properties", "plain", "x\nadmin_password = owned"),
    ("properties", "plain", '"""'),
    ("properties", "plain", "{"),
    ("properties", "java", "x\rkey=owned"),
    ("cfg", "quake", 'x"; rcon_password "owned'),
    ("cfg", "quake", "x; quit"),
    ("cfg", "quake", "x\nset rconpassword owned"),
    ("cfg", "source", 'a" ; sv_cheats "1'),
    ("cfg", "teeworlds", "x;sv_rcon_password owned"),
    ("cfg", "teeworlds", 'x\\"; sv_rcon_password "owned'),
    ("cli", "", "de_dust2 +rcon_password owned"),
    ("cli", "", "-batchmode"),
    ("cli", "", "TheIsland_WP?ServerAdminPassword=owned"),
    ("cli", "", "x;reboot"),
    ("json", "", "x\x00y"),
]


@pytest.mark.parametrize(("fmt", "style", "text"), INJECTIONS)
def test_injection_attempts_are_refused_per_format(fmt: str, style: str, text: str) -> None:
    with pytest.raises(InvalidInput):
        values.parse(S("str", fmt, default="", style=style), text)


def test_unreal_struct_values_cannot_close_their_quotes() -> None:
    struct = S("str", "ini", default="", section="S", struct="OptionSettings")
    for text in ('x",AdminPassword="owned', "x\\"):
        with pytest.raises(InvalidInput):
            values.parse(struct, text)


def _keys(fmt: str, style: str, text: str) -> list[str]:
    """Every key the file's reader would find."""
    if fmt == "properties":
        return [e.key for e in properties._java_entries(text.splitlines(keepends=True))]
    if fmt == "cfg":
        return [p.name for p in cfg._parsed(text.splitlines(keepends=True), S(fmt=fmt)) if p.name]
    return [k.name for k in ini._parse(text.splitlines(keepends=True))[0]]


@pytest.mark.parametrize(
    ("fmt", "style", "text"),
    [
        ("properties", "java", "x\\\nadmin=owned"),  # a trailing backslash continues a line
        ("properties", "java", "a=b:c#d!e"),
        ("properties", "java", "two\nlines=owned"),
        ("cfg", "quake", "a // b # c"),
        ("cfg", "teeworlds", "a # b"),
        ("ini", "", "a ; b=c [S]"),
        ("json", "", '", "admin": "owned'),
    ],
)
def test_accepted_special_characters_stay_inside_the_one_value(
    fmt: str, style: str, text: str
) -> None:
    setting = S("text", fmt, default="", style=style, section="S" if fmt == "ini" else None)
    value: Value | None = values.parse(setting, text)
    base = {"properties": "k=old\n", "cfg": 'k "old"\n', "ini": "[S]\nk=old\n", "json": "{}"}[fmt]
    module = {"properties": properties, "cfg": cfg, "ini": ini, "json": jsonfile}[fmt]
    out = module.write(base, setting, value)
    assert module.read(out, setting) == text
    if fmt == "json":
        assert list(jsonfile._load(out, setting)) == ["k"]
    else:
        assert _keys(fmt, style, out) == ["k"]


def test_decode_returns_the_stored_text_when_it_does_not_fit_the_type() -> None:
    assert values.decode(S("int"), "lots") == "lots"
    assert values.decode(S("int"), "70.000000") == 70
    assert values.decode(S("bool"), "True") is True
    assert values.decode(S("bool"), "perhaps") == "perhaps"
    assert values.decode(S("float"), "1.5") == 1.5
    assert values.decode(S("list", "cfg"), "dm1  dm2") == ["dm1", "dm2"]
