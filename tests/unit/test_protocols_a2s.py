"""A2S parsing, on datagrams recorded from real servers (libssq) and a client's mock (a2squery)."""

from __future__ import annotations

import json
import random
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from warlockd.protocols import MalformedReply, a2s

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "a2s"


def fixture(name: str) -> bytes:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"recorded fixture {path} not found (shared/ beside the repository)")
    return path.read_bytes()


def exchange(step: str) -> bytes:
    """One packet of the a2squery mock exchange, by the start of its step label."""
    packets = json.loads(fixture("a2squery_mock_exchange.json"))["packets"]
    return bytes.fromhex(next(p["hex"] for p in packets if p["step"].startswith(step)))


def payload(name: str) -> bytes:
    return fixture(name)[4:]  # without FF FF FF FF


def test_a_source_info_reply_decodes_to_the_values_on_valves_wiki() -> None:
    info = a2s.parse_info(payload("libssq-dgram/info/css.bin"))
    assert info.name == "game2xs.com Counter-Strike Source #1"
    assert (info.map, info.folder, info.game) == ("de_dust", "cstrike", "Counter-Strike: Source")
    assert (info.protocol, info.app_id, info.version) == (2, 240, "1.0.0.22")
    assert (info.players, info.max_players, info.bots) == (5, 16, 4)
    assert (info.server_type, info.environment, info.password, info.vac) == ("d", "l", False, False)
    assert info.port is None and info.keywords == ""


def test_extra_data_fields_of_a_real_tf2_server_are_read() -> None:
    info = a2s.parse_info(payload("libssq-dgram/info/tf2.bin"))
    assert info.name.startswith("\x01" * 24 + "skial.com | PAYLOAD+ | US ")
    assert "\u2588" in info.name  # block characters, decoded as UTF-8
    assert (info.map, info.players, info.max_players, info.vac) == (
        "pl_badwater_pro_v12_skial",
        32,
        32,
        True,
    )
    assert (info.port, info.steam_id, info.game_id) == (27015, 85568392920040218, 440)
    assert info.keywords.startswith("skial,stats,")


def test_the_ships_three_extra_bytes_do_not_shift_the_version() -> None:
    info = a2s.parse_info(payload("libssq-dgram/info/the-ship.bin"))
    assert (info.app_id, info.name, info.map, info.version) == (
        2400,
        "Ship Server",
        "batavier",
        "1.0.0.4",
    )


def test_a_server_type_byte_of_zero_reads_as_no_type() -> None:
    info = a2s.parse_info(payload("libssq-dgram/info/rag-doll-kung-fu.bin"))
    assert (info.server_type, info.environment, info.name) == ("", "w", "The Dude's dojo")


def test_the_goldsrc_info_reply_is_understood_too() -> None:
    info = a2s.parse_info(exchange("A2S_INFO response, obsolete GoldSource")[4:])
    assert (info.name, info.map, info.folder, info.game) == ("name", "map", "valve", "Half-Life")
    assert (info.players, info.max_players, info.bots, info.vac) == (20, 32, 1, True)


def test_the_app_id_is_read_unsigned() -> None:
    info = a2s.parse_info(exchange("A2S_INFO response, Source")[4:])
    assert (info.app_id, info.name, info.players, info.max_players) == (
        33930,
        "Server Name",
        39,
        55,
    )
    assert (info.port, info.keywords, info.game_id) == (2302, "keywords", 33930)


def test_a_player_reply_gives_names_scores_and_durations() -> None:
    players = a2s.parse_players(payload("libssq-dgram/player/example_0.bin"))
    assert [(p.name, p.score) for p in players] == [("[D]---->T.N.W<----", 14), ("Killer !!!", 5)]
    assert players[0].duration == pytest.approx(514.37, abs=0.01)


def test_absurd_durations_are_not_validated() -> None:
    players = a2s.parse_players(exchange("A2S_PLAYER response")[4:])
    assert [p.name for p in players] == ["Player 0", "Player 1", "Player 2", "Player 3"]
    assert players[3].duration > 1e20


def test_a_challenge_is_returned_as_the_bytes_received() -> None:
    assert a2s.parse_challenge(payload("libssq-dgram/chall/example_0.bin")) == bytes.fromhex(
        "4ba1d522"
    )


def test_requests_match_the_bytes_a_challenged_server_expects() -> None:
    challenge = exchange("S2C_CHALLENGE reply to A2S_INFO")[5:]
    assert exchange("A2S_INFO request with challenge") == a2s.INFO_REQUEST + challenge
    assert exchange("A2S_PLAYER request with -1") == a2s.PLAYER_REQUEST + a2s.NO_CHALLENGE
    assert exchange("A2S_PLAYER request with challenge") == a2s.PLAYER_REQUEST + challenge


def tf2_rules_fragments() -> list[bytes]:
    return [fixture(f"libssq-dgram/rules/tf2_{i}.bin") for i in range(5)]


def test_a_split_reply_reassembles_in_any_order() -> None:
    fragments = [a2s.parse_fragment(d) for d in tf2_rules_fragments()]
    assert {(f.message_id, f.total) for f in fragments} == {(0x033C, 5)}
    message = a2s.reassemble(reversed(fragments))
    assert message.startswith(b"E\xe0\x00brimmunity_version\x001.1.1p\x00")  # 224 rules
    assert message.endswith(b"tv_relaypassword\x000\x00")


def test_a_split_reply_missing_a_fragment_is_malformed() -> None:
    fragments = [a2s.parse_fragment(d) for d in tf2_rules_fragments()]
    with pytest.raises(MalformedReply):
        a2s.reassemble(fragments[:4])


def test_a_compressed_split_reply_is_refused() -> None:
    compressed = b"\xfe\xff\xff\xff" + (0x80000001).to_bytes(4, "little") + b"\x02\x00\xe0\x04"
    with pytest.raises(MalformedReply, match="bzip2"):
        a2s.parse_fragment(compressed + b"whatever")


@pytest.mark.parametrize(
    "reply",
    [b"", b"I", b"I\x11Server Name\x00Map", b"X\x11whatever", b"I\x11a\x00b\x00c\x00d\x00\x8a"],
)
def test_truncated_or_foreign_info_replies_are_malformed(reply: bytes) -> None:
    with pytest.raises(MalformedReply):
        a2s.parse_info(reply)


def test_every_truncation_of_a_real_reply_is_malformed_never_a_crash() -> None:
    whole = payload("libssq-dgram/player/example_0.bin")
    for end in range(len(whole)):
        with pytest.raises(MalformedReply):
            a2s.parse_players(whole[:end])


@pytest.fixture
def udp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    client.connect(server.getsockname())
    server.connect(client.getsockname())
    yield server, client
    server.close()
    client.close()


def test_receive_reassembles_real_fragments_sent_out_of_order_over_udp(
    udp_pair: tuple[socket.socket, socket.socket],
) -> None:
    server, client = udp_pair
    fragments = tf2_rules_fragments()
    random.Random(7).shuffle(fragments)
    sender = threading.Thread(target=lambda: [server.send(f) for f in fragments])
    sender.start()
    message = a2s.receive(client, timeout=2.0)
    sender.join()
    assert message.startswith(b"E\xe0\x00brimmunity_version")
