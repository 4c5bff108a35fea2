"""FrameParser, Message, ReplyRouter and encode_action, with byte literals and real traces.

Every test here runs twice: with frames kept as text (the service's parser) and with
every header split as it is parsed (``split_headers=True``).  Both must keep each
guarantee: malformed input, oversized frames, UTF-8 split across reads, repeated keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from callcentre.ami.protocol import (
    FrameParser,
    Message,
    Reply,
    ReplyRouter,
    encode_action,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ami"


@pytest.fixture(autouse=True, scope="module", params=[False, True], ids=["text", "split"])
def parser_mode(request: pytest.FixtureRequest) -> Iterator[bool]:
    """``FrameParser()`` in this module means either mode (module scope: Hypothesis
    refuses function-scoped fixtures around @given)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(FrameParser.__init__.__kwdefaults__, "split_headers", request.param)
        yield request.param
TRACES = sorted(FIXTURES.glob("*.ami"))
BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def feed_all(parser: FrameParser, chunks: list[bytes]) -> list[Message]:
    out: list[Message] = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    return out


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# -- framing ------------------------------------------------------------------


def test_banner_then_frames() -> None:
    parser = FrameParser()
    messages = parser.feed(
        BANNER + b"Response: Success\r\nActionID: cc-1\r\nMessage: Authentication accepted\r\n\r\n"
    )
    assert parser.banner == "Asterisk Call Manager/11.0.0"
    assert [m.items() for m in messages] == [
        [("Response", "Success"), ("ActionID", "cc-1"), ("Message", "Authentication accepted")]
    ]


def test_banner_split_across_reads() -> None:
    parser = FrameParser()
    assert parser.feed(b"Asterisk Call Man") == []
    assert parser.banner is None
    assert parser.feed(b"ager/11.0.0\r") == []
    assert parser.feed(b"\nEvent: A\r\n\r\n")[0].event == "A"
    assert parser.banner == "Asterisk Call Manager/11.0.0"


def test_stream_without_banner() -> None:
    parser = FrameParser()
    assert parser.feed(b"Event: FullyBooted\r\n\r\n")[0].event == "FullyBooted"
    assert parser.banner is None


def test_partial_frame_waits_for_terminator() -> None:
    parser = FrameParser()
    assert parser.feed(b"Event: Hangup\r\nUniqueid: 1795379766.0\r\n") == []
    assert parser.feed(b"Cause: 16\r\n\r") == []
    (message,) = parser.feed(b"\n")
    assert message.items() == [("Event", "Hangup"), ("Uniqueid", "1795379766.0"), ("Cause", "16")]


def test_several_frames_in_one_read() -> None:
    data = b"Event: A\r\nN: 1\r\n\r\nEvent: B\r\nN: 2\r\n\r\nEvent: C\r\nN: 3\r\n\r\nEvent: D"
    parser = FrameParser()
    assert [m.event for m in parser.feed(data)] == ["A", "B", "C"]
    assert [m.event for m in parser.feed(b"\r\n\r\n")] == ["D"]
    assert parser.stats.frames == 4
    assert parser.stats.bytes == len(data) + 4


def test_crlf_only_input_gives_nothing() -> None:
    parser = FrameParser()
    assert parser.feed(b"\r\n\r\n\r\n\r\n\r\n") == []
    assert parser.feed(b"Event: A\r\n\r\n\r\n\r\nEvent: B\r\n\r\n") == [
        Message([("Event", "A")]),
        Message([("Event", "B")]),
    ]
    assert parser.stats.malformed_lines == 0


def test_bare_lf_is_not_a_frame_end() -> None:
    (message,) = FrameParser().feed(b"Event: A\n\nKey: v\r\n\r\n")
    assert message.items() == [("Event", "A"), ("Key", "v")]


def test_lines_without_colon_are_counted_and_skipped() -> None:
    parser = FrameParser()
    (message,) = parser.feed(b"Event: A\r\ngarbage line\r\nKey: v\r\n: no key\r\n\r\n")
    assert message.items() == [("Event", "A"), ("Key", "v")]
    assert parser.stats.malformed_lines == 2


def test_frame_of_only_bad_lines_gives_no_message() -> None:
    parser = FrameParser()
    assert parser.feed(BANNER + b"just text\r\nmore text\r\n\r\nEvent: B\r\n\r\n") == [
        Message([("Event", "B")])
    ]
    assert parser.stats.malformed_lines == 2
    assert parser.stats.frames == 1


def test_follows_command_output_does_not_break_anything() -> None:
    data = (
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: cc-7\r\n"
        b"Name/username             Host\n1 sip peers [Monitored: 0 online]\n"
        b"--END COMMAND--\r\n\r\nEvent: After\r\n\r\n"
    )
    parser = FrameParser()
    follows, after = parser.feed(data)
    assert follows.response == "Follows"
    assert follows.action_id == "cc-7"
    assert after.event == "After"
    assert parser.stats.malformed_lines == 2  # the two lines with no ':' at all


def test_value_keeps_colons_and_inner_spaces() -> None:
    (message,) = FrameParser().feed(
        b"Event: X\r\nAppData: (Outgoing Line): x\r\nValue:    min=1; max=2;\r\nEmpty: \r\n"
        b"NoSpace:v\r\n\r\n"
    )
    assert message["AppData"] == "(Outgoing Line): x"
    assert message["Value"] == "   min=1; max=2;"
    assert message["Empty"] == ""
    assert message["NoSpace"] == "v"


def test_utf8_character_split_across_feeds() -> None:
    data = "Event: Newchannel\r\nCallerIDName: Siân Ó Súilleabháin\r\n\r\n".encode()
    cut = data.index("â".encode()) + 1  # inside the two-byte sequence
    parser = FrameParser()
    assert parser.feed(data[:cut]) == []
    (message,) = parser.feed(data[cut:])
    assert message["CallerIDName"] == "Siân Ó Súilleabháin"


def test_invalid_utf8_is_replaced() -> None:
    (message,) = FrameParser().feed(b"Event: A\r\nName: \xff\xfeok\r\n\r\n")
    assert message["Name"] == "\ufffd\ufffdok"


def test_oversized_frame_is_skipped_counted_and_stream_resyncs() -> None:
    big = b"Event: Huge\r\n" + b"Filler: " + b"x" * 5000 + b"\r\n"
    data = b"Event: Before\r\n\r\n" + big + b"\r\n" + b"Event: After\r\nN: 1\r\n\r\n"
    for size in (len(data), 1000, 7, 1):
        parser = FrameParser(max_frame_bytes=1024)
        messages = []
        for chunk in chunked(data, size):
            messages.extend(parser.feed(chunk))
            assert parser.buffered <= 1024 + 3  # never holds the oversized frame
        assert [m.event for m in messages] == ["Before", "After"], size
        assert parser.stats.oversized_frames == 1


def test_frame_exactly_at_the_limit_is_kept() -> None:
    frame = b"Event: A\r\nF: " + b"y" * 87
    assert len(frame) == 100
    for size in (1, 3, 200):
        parser = FrameParser(max_frame_bytes=100)
        assert len(feed_all(parser, chunked(frame + b"\r\n\r\n", size))) == 1
        parser = FrameParser(max_frame_bytes=99)
        assert feed_all(parser, chunked(frame + b"\r\n\r\nEvent: B\r\n\r\n", size)) == [
            Message([("Event", "B")])
        ]
        assert parser.stats.oversized_frames == 1


class CountingBuffer(bytearray):
    """A parser's buffer that counts the bytes its searches cover."""

    searched = 0

    def find(self, sub: Any, start: Any = 0, end: Any = None) -> int:
        CountingBuffer.searched += (len(self) if end is None else end) - (start or 0)
        return super().find(sub, start, end)

    def rfind(self, sub: Any, start: Any = 0, end: Any = None) -> int:
        CountingBuffer.searched += (len(self) if end is None else end) - (start or 0)
        return super().rfind(sub, start, end)


def test_huge_frame_in_small_chunks_is_searched_once() -> None:
    """An 8 MiB frame fed 256 bytes at a time: each byte is searched a bounded number of
    times (a parser that searched the whole buffer again on every chunk would cover
    about 128 GiB here, and take minutes)."""
    body = b"Event: Big\r\n" + b"Line: " + b"z" * (8 << 20) + b"\r\n\r\n"
    parser = FrameParser(max_frame_bytes=16 << 20)
    parser.feed(b"Event: Start\r\n\r\n")  # past the banner check
    parser._buffer = CountingBuffer(parser._buffer)  # the work, not the time
    CountingBuffer.searched = 0
    messages = feed_all(parser, chunked(body, 256))
    assert len(messages[0]["Line"]) == 8 << 20
    assert 0 < CountingBuffer.searched < 2 * len(body)


def test_reset_forgets_partial_frame_and_banner_but_keeps_stats() -> None:
    parser = FrameParser()
    parser.feed(BANNER + b"Event: A\r\n\r\nEvent: Partial\r\nX: 1\r\n")
    parser.reset()
    assert parser.banner is None
    assert parser.feed(BANNER + b"Event: B\r\n\r\n") == [Message([("Event", "B")])]
    assert parser.stats.frames == 2


# -- Message ----------------------------------------------------------------------


def test_message_lookups() -> None:
    message = Message(
        [("Event", "VarSet"), ("ActionID", "cc-3"), ("Timestamp", "1795379766.744706"),
         ("Variable", "A"), ("Variable", "B")]
    )
    assert message.event == "VarSet"
    assert message.response is None
    assert message.action_id == "cc-3"
    assert message.timestamp == pytest.approx(1795379766.744706)
    assert message.get("Variable") == "A"
    assert message["Variable"] == "A"
    assert message.get_all("Variable") == ["A", "B"]
    assert message.get_all("Missing") == []
    assert message.get("Missing") is None
    assert message.get("Missing", "d") == "d"
    assert "Variable" in message
    assert "variable" not in message  # names are matched as Asterisk spells them
    assert list(message) == ["Event", "ActionID", "Timestamp", "Variable"]
    with pytest.raises(KeyError):
        message["Missing"]


def test_bad_timestamp_is_none() -> None:
    assert Message([("Timestamp", "soon")]).timestamp is None
    assert Message([("Event", "A")]).timestamp is None


def test_chan_variables_both_forms() -> None:
    (event,) = FrameParser().feed(
        b"Event: QueueCallerJoin\r\nChanVariable: CASE_REF=CASE-answered-1\r\n"
        b"ChanVariable: LANG=cy\r\nChanVariable: EMPTY=\r\nChanVariable: nonsense\r\n"
        b"DestChanVariable: CASE_REF=other-leg\r\n\r\n"
    )
    assert event.chan_variables() == {"CASE_REF": "CASE-answered-1", "LANG": "cy", "EMPTY": ""}
    callback = (FIXTURES / "callback.ami").read_bytes()
    (originate,) = [m for m in FrameParser().feed(callback) if m.event == "OriginateResponse"]
    assert originate.chan_variables() == {"CASE_REF": "CB-1001"}


# -- encode_action ---------------------------------------------------------------


def test_encode_action_with_repeated_headers() -> None:
    data = encode_action(
        "Originate",
        "cc-2",
        {"Channel": "PJSIP/agent1", "Variable": ["__CASE_REF=CB-1001", "CALLBACK_ID=cb-42"]},
    )
    assert data == (
        b"Action: Originate\r\nActionID: cc-2\r\nChannel: PJSIP/agent1\r\n"
        b"Variable: __CASE_REF=CB-1001\r\nVariable: CALLBACK_ID=cb-42\r\n\r\n"
    )
    (parsed,) = FrameParser().feed(data)
    assert parsed.get_all("Variable") == ["__CASE_REF=CB-1001", "CALLBACK_ID=cb-42"]


@pytest.mark.parametrize(
    ("action", "fields"),
    [
        ("Ping", {"Channel": "PJSIP/a\r\nAction: Hangup"}),
        ("Ping", {"Variable": ["ok", "bad\nAction: Hangup"]}),
        ("Ping", {"Bad\rKey": "v"}),
        ("Ping", {"Bad: Key": "v"}),
        ("Ping", {"": "v"}),
        ("Ping\r\nAction: Hangup", {}),
        ("Ping", {"ActionID": "mine"}),
    ],
)
def test_encode_action_refuses_injection(action: str, fields: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        encode_action(action, "cc-1", fields)


# -- ReplyRouter ---------------------------------------------------------------------


def frames(data: bytes) -> list[Message]:
    return FrameParser().feed(data)


def test_router_plain_response_and_events() -> None:
    router = ReplyRouter()
    router.expect("cc-2")
    event, response, other = frames(
        b"Event: Newchannel\r\n\r\nResponse: Success\r\nActionID: cc-2\r\n\r\n"
        b"Response: Success\r\nActionID: cc-99\r\n\r\n"
    )
    assert router.route(event) is event
    assert router.route(response) == Reply("cc-2", response)
    assert router.route(other) is None  # a reply nobody waits for is not an event


def test_router_event_list() -> None:
    router = ReplyRouter()
    router.expect("cc-3")
    start, member, stray, complete, originate = frames(
        b"Response: Success\r\nActionID: cc-3\r\nEventList: start\r\n\r\n"
        b"Event: QueueMember\r\nActionID: cc-3\r\n\r\n"
        b"Event: Hangup\r\n\r\n"
        b"Event: QueueStatusComplete\r\nActionID: cc-3\r\nEventList: Complete\r\n\r\n"
        b"Event: OriginateResponse\r\nActionID: cc-3\r\n\r\n"
    )
    assert router.route(start) is None
    assert router.route(member) is None
    assert router.route(stray) is stray
    assert router.route(complete) == Reply("cc-3", start, (member,), complete)
    assert router.route(originate) is originate  # the list is over: an ordinary event


def test_router_drops_rest_of_a_forgotten_list() -> None:
    router = ReplyRouter()
    router.expect("cc-4")
    router.expect("cc-5")
    start, member, complete, late_start, late_member = frames(
        b"Response: Success\r\nActionID: cc-4\r\nEventList: start\r\n\r\n"
        b"Event: QueueMember\r\nActionID: cc-4\r\n\r\n"
        b"Event: QueueStatusComplete\r\nActionID: cc-4\r\nEventList: Complete\r\n\r\n"
        b"Response: Success\r\nActionID: cc-5\r\nEventList: start\r\n\r\n"
        b"Event: CoreShowChannel\r\nActionID: cc-5\r\n\r\n"
    )
    assert router.route(start) is None
    router.forget("cc-4")  # timed out mid-list
    router.forget("cc-5")  # timed out before its response
    assert router.route(member) is None
    assert router.route(complete) is None
    assert router.route(late_start) is None
    assert router.route(late_member) is None


# -- recorded traces ---------------------------------------------------------------


def trace_windows(raw: bytes) -> list[tuple[bytes, int, int]]:
    """(window, first, last) per frame: banner + that frame + the next one; every
    offset in first..last lies in or at the end of that frame."""
    body = raw[len(BANNER) :]
    parts = body.split(b"\r\n\r\n")[:-1]
    windows = [(raw[: len(BANNER) + len(parts[0]) + 4], 0, len(BANNER))]
    for index, part in enumerate(parts):
        frame = part + b"\r\n\r\n"
        following = parts[index + 1] + b"\r\n\r\n" if index + 1 < len(parts) else b""
        windows.append((BANNER + frame + following, len(BANNER), len(BANNER) + len(frame)))
    return windows


@pytest.mark.clockless  # a minute of parsing, the same at any hour
@pytest.mark.parametrize("trace", TRACES, ids=lambda p: p.stem)
def test_trace_split_at_every_offset(trace: Path) -> None:
    """Two-part feeds equal one feed at every offset of the trace.

    Parsing the whole trace once per offset would take minutes, so each offset is cut
    in a window holding the banner, the frame that offset falls in and the next
    frame; the parser is at a frame boundary before each window, as in the trace.
    """
    raw = trace.read_bytes()
    assert raw.startswith(BANNER)
    covered = 0
    for window, first, last in trace_windows(raw):
        whole = FrameParser().feed(window)
        for cut in range(first, last + 1):
            parser = FrameParser()
            assert parser.feed(window[:cut]) + parser.feed(window[cut:]) == whole, cut
        covered += last - first
    assert covered >= len(raw) - 1


@pytest.mark.parametrize("trace", TRACES, ids=lambda p: p.stem)
def test_trace_in_small_chunks(trace: Path) -> None:
    raw = trace.read_bytes()
    whole = FrameParser().feed(raw)
    events = [m.event for m in whole if m.event]
    # once per session: the project's captures use the least-rights account, which has no
    # "security" read class and so no SuccessfulAuth; every account gets FullyBooted
    assert events.count("FullyBooted") == 1
    assert whole[-1].response == "Goodbye"
    for size in range(1, 8):
        parser = FrameParser()
        assert feed_all(parser, chunked(raw, size)) == whole, size
        assert parser.banner == "Asterisk Call Manager/11.0.0"
        assert parser.stats.malformed_lines == 0


# -- properties -------------------------------------------------------------------


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=2000), max_frame=st.integers(1, 300), size=st.integers(1, 64))
def test_random_bytes_never_raise(data: bytes, max_frame: int, size: int) -> None:
    parser = FrameParser(max_frame_bytes=max_frame)
    for message in feed_all(parser, chunked(data, size)):
        assert len(message) >= 1
    assert parser.stats.bytes == len(data)
    assert parser.buffered <= max_frame + 3


@settings(max_examples=200, deadline=None)
@given(
    trace=st.sampled_from(TRACES), fraction=st.floats(0, 1), size=st.integers(1, 4096)
)
def test_truncated_trace_gives_a_prefix_of_the_messages(
    trace: Path, fraction: float, size: int
) -> None:
    raw = trace.read_bytes()
    whole = FrameParser().feed(raw)
    cut = raw[: int(len(raw) * fraction)]
    got = feed_all(FrameParser(), chunked(cut, size))
    assert got == whole[: len(got)]


good_frame = st.lists(
    st.tuples(
        st.text(st.characters(min_codepoint=65, max_codepoint=90), min_size=1, max_size=8),
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20),
    ),
    min_size=1,
    max_size=4,
)


def encode(headers: list[tuple[str, str]]) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in headers).encode() + b"\r\n"


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=st.lists(good_frame, max_size=3),
    after=st.lists(good_frame, max_size=3),
    noise=st.binary(min_size=200, max_size=1500),
    size=st.integers(1, 300),
)
def test_nothing_comes_out_of_an_oversized_frame(
    before: list[list[tuple[str, str]]],
    after: list[list[tuple[str, str]]],
    noise: bytes,
    size: int,
) -> None:
    oversized = b"Event: Secret\r\nMarker: inside\r\n" + noise
    assume((oversized + b"\r\n\r\n").find(b"\r\n\r\n") == len(oversized))
    data = b"".join(map(encode, before)) + oversized + b"\r\n\r\n" + b"".join(map(encode, after))
    parser = FrameParser(max_frame_bytes=190)  # good frames are at most 4 * 31 bytes
    messages = feed_all(parser, chunked(data, size))
    assert [m.items() for m in messages] == before + after
    assert parser.stats.oversized_frames == 1


# -- a read's complete frames are decoded at once and checked as a whole ------------


def test_invalid_utf8_at_a_frame_boundary_is_replaced_per_frame() -> None:
    data = b"Event: A\r\nName: ok\xe2\x82\r\n\r\nEvent: B\r\nName: \xa9fine\r\n\r\n"
    messages = FrameParser().feed(data)
    assert [m["Name"] for m in messages] == ["ok\ufffd", "\ufffdfine"]
    assert feed_all(FrameParser(), chunked(data, 1)) == messages


def test_stray_cr_before_a_frame_is_dropped() -> None:
    parser = FrameParser()
    first, second = parser.feed(b"Event: A\r\n\r\n\rEvent: B\r\nKey: v\r\n\r\n")
    assert first.event == "A"
    assert second.event == "B"
    assert second.items() == [("Event", "B"), ("Key", "v")]
    assert parser.stats.malformed_lines == 0


def test_lookups_in_a_parsed_frame() -> None:
    (message,) = FrameParser().feed(
        b"Privilege: call,all\r\nEvent: Hangup\r\nUniqueid: 1.0\r\nid: short\r\n"
        b"AppData: a: b\r\nVariable: X\r\nVariable: Y\r\nLast: end\r\n\r\n"
    )
    assert message.event == "Hangup"  # not on the first line
    assert message.get("id") == "short"  # not the tail of "Uniqueid"
    assert message.get("AppData") == "a: b"
    assert message.get("AppData: a") is None  # no header name holds ": "
    assert "AppData: a" not in message
    assert message.get("Variable") == "X"
    assert message["Last"] == "end"
    assert message.get("") is None
    assert message.get("Missing", "d") == "d"
    assert 3 not in message  # type: ignore[operator]


PIECES = [b"\r\n", b"\r\n", b"\n", b"\r", b": ", b": ", b":", b" ", b"Event", b"Key", b"Value",
          b"x", b"\xff", b"\xe2\x82", b"\xac", b"\xc3\xa9"]


def reference_parse(data: bytes) -> tuple[list[list[tuple[str, str]]], int]:
    """Every frame of one read decoded on its own and read line by line.

    Asterisk's own form (CRLF lines, each ``Key: value``) is split at CRLF, so a CR
    ending the last value stays; anything else is read leniently, line by line.
    """
    frames, malformed = [], 0
    body = data[: data.rfind(b"\r\n\r\n")]  # frames end where one read's do
    for raw in body.split(b"\r\n\r\n"):
        text = raw.decode("utf-8", "replace").lstrip("\r\n")
        lines = text.split("\r\n")
        if all(line.find(": ") > 0 and "\n" not in line for line in lines):
            headers = [(key, value) for key, _, value in (ln.partition(": ") for ln in lines)]
        else:
            headers, bad = lenient_parse(text)
            malformed += bad
        if headers:
            frames.append(headers)
    return frames, malformed


def lenient_parse(text: str) -> tuple[list[tuple[str, str]], int]:
    headers, malformed = [], 0
    for line in text.split("\n"):
        line = line.removesuffix("\r")  # noqa: PLW2901
        key, sep, value = line.partition(": ")
        if not sep:
            key, sep, value = line.partition(":")
        if sep and key:
            headers.append((key, value))
        elif line:
            malformed += 1
    return headers, malformed


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(st.lists(st.sampled_from(PIECES), max_size=14).map(b"".join), max_size=6))
def test_parsed_frames_match_the_plain_definition(frames: list[bytes]) -> None:
    data = b"Event: Start\r\n\r\n" + b"".join(frame + b"\r\n\r\n" for frame in frames)
    expected, malformed = reference_parse(data)
    # With a limit below the read's size (but no frame over it) each frame is decoded alone.
    limit = max(map(len, data.split(b"\r\n\r\n"))) + 2  # a stray CRLF may join the last
    for parser in (FrameParser(), FrameParser(limit)):
        assert_same_headers(parser.feed(data), expected)
        assert parser.stats.malformed_lines == malformed
        assert parser.stats.oversized_frames == 0


def assert_same_headers(messages: list[Message], expected: list[list[tuple[str, str]]]) -> None:
    assert [m.items() for m in messages] == expected
    for message, headers in zip(messages, expected, strict=True):
        first = dict(reversed(headers))
        assert message.event == first.get("Event")
        for key in {*first, "Event", "Key", "Key: x", "Nope", ""}:
            assert message.get(key) == first.get(key), key
            assert (key in message) == (key in first)


def test_both_modes_are_exercised(parser_mode: bool) -> None:
    assert FrameParser().split_headers is parser_mode


def test_odd_run_of_crlfs_after_a_frame_at_the_end_of_a_read() -> None:
    """Three CRLFs: the first two end frame A; one feed, split or whole, sees the same."""
    data = b"Event: A\r\nK: v\r\n\r\n\r\n" + b"Event: B\r\n\r\n"
    whole = FrameParser().feed(data)
    assert [m.items() for m in whole] == [[("Event", "A"), ("K", "v")], [("Event", "B")]]
    for cut in range(1, len(data)):
        parser = FrameParser()
        assert parser.feed(data[:cut]) + parser.feed(data[cut:]) == whole, cut
        assert parser.stats.malformed_lines == 0
