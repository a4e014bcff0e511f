"""The KeyValues parser, against real SteamCMD files and hand-made edge cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from warlockd.sources import vdf

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "steamcmd"
needs_fixtures = pytest.mark.skipif(
    not FIXTURES.is_dir(), reason=f"SteamCMD fixtures not found at {FIXTURES}"
)


@needs_fixtures
def test_appmanifest_740_gives_its_buildid_and_depots() -> None:
    tree = vdf.loads((FIXTURES / "appmanifest_740.acf").read_text())
    assert vdf.get_str(tree, "AppState", "buildid") == "4120557"
    assert vdf.get_str(tree, "AppState", "StateFlags") == "4"
    depots = vdf.get_dict(tree, "AppState", "InstalledDepots")
    assert depots == {
        "731": {"manifest": "703576417770357862"},
        "740": {"manifest": "2884121297741641887"},
    }
    assert vdf.get_dict(tree, "AppState", "UserConfig") == {}


@needs_fixtures
def test_appmanifest_258550_unescapes_windows_paths() -> None:
    tree = vdf.loads((FIXTURES / "appmanifest_258550.acf").read_text())
    assert vdf.get_str(tree, "AppState", "buildid") == "12980910"
    assert vdf.get_str(tree, "AppState", "TargetBuildID") == "12980910"
    launcher = vdf.get_str(tree, "AppState", "LauncherPath")
    assert launcher == "C:\\Users\\<user>\\OneDrive\\Escritorio\\steamcmd\\steamcmd.exe"


@needs_fixtures
def test_app_info_tree_gives_branch_buildids() -> None:
    tree = vdf.loads((FIXTURES / "app_info_print_2131400_vdf_tree.vdf").read_text())
    assert vdf.get_str(tree, "2131400", "depots", "branches", "public", "buildid") == "20727232"
    experimental = vdf.get_dict(tree, "2131400", "depots", "branches", "experimental")
    assert experimental is not None
    assert experimental["buildid"] == "20729593"
    assert experimental["description"] == "Bleeding-edge updates"
    gid = vdf.get_str(tree, "2131400", "depots", "2131402", "manifests", "public", "gid")
    assert gid == "4027172715479418364"
    assert vdf.get_str(tree, "2131400", "common", "osextended") == ""


@needs_fixtures
def test_find_block_skips_console_noise_around_the_tree() -> None:
    tree = (FIXTURES / "app_info_print_2131400_vdf_tree.vdf").read_text()
    console = (
        'Loading Steam API...OK\nAppID : 2131400, change number : 1/0, last change : "x"\n'
        + tree
        + "Unloading Steam API...OK\n{ stray\n"
    )
    block = vdf.find_block(console, "2131400")
    assert block is not None
    assert vdf.get_str(block, "depots", "branches", "public", "buildid") == "20727232"
    assert vdf.find_block(console, "740") is None


def test_keys_match_case_insensitively() -> None:
    tree = vdf.loads('"AppState" { "LastUpdated" "1" "buildid" "7" }')
    assert vdf.get_str(tree, "appstate", "lastupdated") == "1"
    assert vdf.get_str(tree, "AppState", "BuildID") == "7"
    assert vdf.get(tree, "AppState", "missing") is None
    assert vdf.get(tree, "AppState", "buildid", "deeper") is None


def test_escapes_comments_bare_words_and_conditions() -> None:
    text = r"""
    // a comment
    "root"
    {
        "quote"   "say \"hi\"\tthen\\leave\n"   // trailing comment
        bare      word
        "cond"    "win"   [$WIN32]
        "empty"   ""
        "url"     "http://example.com/x"
    }
    """
    root = vdf.get_dict(vdf.loads(text), "root")
    assert root == {
        "quote": 'say "hi"\tthen\\leave\n',
        "bare": "word",
        "cond": "win",
        "empty": "",
        "url": "http://example.com/x",
    }


def test_repeated_keys_keep_the_last_value_and_merge_blocks() -> None:
    tree = vdf.loads('"a" "1" "a" "2" "b" { "x" "1" } "b" { "y" "2" }')
    assert tree == {"a": "2", "b": {"x": "1", "y": "2"}}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('"a" {\n "b" "c"\n', "not closed"),
        ('"a" "b"\n}', "unmatched '}' on line 2"),
        ('"a"', "has no value"),
        ('"a" {\n "b" }', "has no value"),
        ('{ "a" "b" }', "expected a key on line 1"),
        ('"a" "unterminated', "unexpected '\"' on line 1"),
    ],
)
def test_malformed_text_is_refused_naming_the_line(text: str, problem: str) -> None:
    with pytest.raises(vdf.VdfError, match=problem):
        vdf.loads(text)


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    with pytest.raises(vdf.VdfError, match="nested deeper"):
        vdf.loads('"a" {' * 200 + "}" * 200)
