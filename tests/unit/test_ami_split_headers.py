"""FrameParser(split_headers=True) gives the messages, lookups and counters the
text-keeping parser gives, for any bytes cut anywhere (test_ami_protocol.py runs all
its byte-literal, trace and property tests in both modes too)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callcentre.ami.protocol import FrameParser, Message

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ami"
PIECES = [b"\r\n", b"\r\n\r\n", b"\n", b"\r", b": ", b":", b" ", b"Event", b"Key", b"x",
          b"ChanVariable", b"\xff", b"\xe2\x82", b"\xac"]


def run(data: bytes, size: int, max_frame: int, split: bool) -> tuple[list[Message], FrameParser]:
    parser = FrameParser(max_frame, split_headers=split)
    messages = []
    for at in range(0, len(data), size):
        messages.extend(parser.feed(data[at : at + size]))
    return messages, parser


def assert_same_lookups(text: list[Message], split: list[Message]) -> None:
    assert split == text
    for a, b in zip(text, split, strict=True):
        for key in {*a, "Event", "Key", "Missing", "", "Key: x"}:
            assert b.get(key) == a.get(key), key
            assert (key in b) == (key in a)
            assert b.get_all(key) == a.get_all(key)
        assert (b.event, b.response, b.action_id) == (a.event, a.response, a.action_id)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.lists(st.sampled_from(PIECES), max_size=60).map(b"".join),
       size=st.integers(1, 40), max_frame=st.integers(8, 400))
def test_any_bytes_any_cut_same_as_text_mode(data: bytes, size: int, max_frame: int) -> None:
    text, by_text = run(data, size, max_frame, split=False)
    split, by_split = run(data, size, max_frame, split=True)
    assert_same_lookups(text, split)
    assert by_split.stats == by_text.stats
    assert by_split.buffered == by_text.buffered


@pytest.mark.parametrize("name", ["answered", "callback", "two_queues"])
@pytest.mark.parametrize("size", [1, 7, 4096, 1 << 18])
def test_recorded_traces_same_as_text_mode(name: str, size: int) -> None:
    raw = (FIXTURES / f"{name}.ami").read_bytes()
    text, _ = run(raw, size, 1 << 20, split=False)
    split, parser = run(raw, size, 1 << 20, split=True)
    assert_same_lookups(text, split)
    assert parser.stats.malformed_lines == 0


def test_repeated_header_first_value_wins_and_all_are_kept() -> None:
    (message,) = FrameParser(split_headers=True).feed(
        b"Event: Newchannel\r\nChanVariable: CASE_REF=C-1\r\nChanVariable: CALLBACK_ID=\r\n"
        b"AppData: a: b\r\n\r\n"
    )
    assert message["ChanVariable"] == "CASE_REF=C-1"
    assert message.get_all("ChanVariable") == ["CASE_REF=C-1", "CALLBACK_ID="]
    assert message.chan_variables() == {"CASE_REF": "C-1", "CALLBACK_ID": ""}
    assert message["AppData"] == "a: b"
    assert list(message) == ["Event", "ChanVariable", "AppData"]
