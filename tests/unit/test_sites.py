"""Several PBXs: each site's ids and queues named apart (domain/sites.py), the [[pbx]]
entries of the config, a resync that closes only its own site's calls, and a dialler per
site."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from callcentre import config
from callcentre.config import Pbx
from callcentre.domain import callback_events as cev
from callcentre.domain import events as ev
from callcentre.domain.agents import AgentBoard
from callcentre.domain.callback_policy import Source
from callcentre.domain.callbacks import Status
from callcentre.domain.calls import Call
from callcentre.domain.live import LeaderLive, merged
from callcentre.domain.queue_log import parse_line
from callcentre.domain.resync import Resynced, ResyncStarted
from callcentre.domain.sites import Namespace, in_site, site_of, valid_name
from callcentre.errors import ConfigError, InvalidInput
from callcentre.phones import normaliser
from callcentre.scheduling.due_loop import HeapScheduler
from callcentre.services.callback_board import CallbackBoard
from callcentre.services.callback_dialler import CallbackDialler
from callcentre.services.callbacks import CallbackService, NewCallback
from callcentre.services.diallers import Diallers
from callcentre.testing import (
    FakeClock,
    FakePbx,
    InMemoryCallbackRepository,
    InMemoryCallRepository,
    InMemoryCaseRepository,
    default_policy,
    utc,
)
from tests.unit.test_calllog_service import T0, a_call, details, feed, service

MAIN, NORTH = Namespace("main", primary=True), Namespace("north", primary=False)
CB_T0 = utc(2026, 11, 23, 10)  # Monday 10:00 GMT: within calling hours


def _callbacks(repo: InMemoryCallbackRepository, clock: FakeClock,
               sites: tuple[str, ...] = ("main", "north")) -> CallbackService:
    return CallbackService(repo, InMemoryCaseRepository(), InMemoryCallRepository(),
                           default_policy(), clock, normaliser("GB"), sites=sites)


def _dialler(service: CallbackService, repo: InMemoryCallbackRepository, clock: FakeClock,
             pbx: FakePbx, names: Namespace) -> CallbackDialler:
    return CallbackDialler(service, repo, HeapScheduler(), AgentBoard(), pbx, clock,
                           names=names)


def _dialler_per_site(service: CallbackService, repo: InMemoryCallbackRepository,
                      clock: FakeClock) -> tuple[tuple[FakePbx, FakePbx], Diallers]:
    """A dialler for the main PBX and one for north, each PBX reporting its own agent1
    free in its queue council (the same device name at both)."""
    pbxs = (FakePbx(), FakePbx())
    diallers = Diallers([_dialler(service, repo, clock, pbx, names)
                         for pbx, names in zip(pbxs, (MAIN, NORTH), strict=True)])
    for names in (MAIN, NORTH):
        diallers.handle(names.event(
            cev.MemberChanged("council", "PJSIP/agent1", "Agent 1", False, 1, False)))
    return pbxs, diallers


def test_the_main_pbx_keeps_asterisks_ids_and_another_site_names_its_own() -> None:
    joined = ev.QueueJoined("1733.7", T0, "council", 1, details())
    assert MAIN.event(joined) is joined
    named = NORTH.event(joined)
    assert (named.linkedid, named.queue) == ("north:1733.7", "north:council")
    assert named.details == joined.details and named.at == T0
    hung_up = NORTH.event(ev.CallerHungUp("1733.7", T0, 16))  # no queue: only the id
    assert (hung_up.linkedid, hung_up.cause) == ("north:1733.7", 16)


def test_a_resync_carries_its_site_and_its_calls_are_named() -> None:
    live = Call("1733.9", "PJSIP/resident-9", T0, queue="council")
    found = Resynced(T0, 1, frozenset({"1733.9"}), frozenset({"1733.9", "1733.10"}),
                     (live,), ())
    assert MAIN.event(found) is found
    named = NORTH.event(found)
    assert named.site == "north:" and named.live_linkedids == {"north:1733.9"}
    assert named.channel_ids == {"north:1733.9", "north:1733.10"}
    assert [(c.linkedid, c.queue) for c in named.adoptable] == [("north:1733.9",
                                                                  "north:council")]
    assert NORTH.event(ResyncStarted(T0)).site == "north:"


def test_ownership_never_confuses_two_sites() -> None:
    assert in_site("1733.7", MAIN.prefix) and not in_site("north:1733.7", MAIN.prefix)
    assert in_site("north:1733.7", NORTH.prefix) and not in_site("1733.7", NORTH.prefix)
    assert not in_site("northeast:1", "north:")
    assert site_of("north:1733.7", "main") == "north" and site_of("1733.7", "main") == "main"


def test_queue_log_lines_are_named_like_the_events() -> None:
    line = "1733000000|1733.7|council|PJSIP/agent1|CONNECT|3|1733.8|1"
    named = parse_line(NORTH.queue_log_line(line))
    assert (named.callid, named.queue, named.agent, named.event) == (
        "north:1733.7", "north:council", "PJSIP/agent1", "CONNECT")
    assert named.data == ("3", "1733.8", "1")
    start = "1733000000|NONE|NONE|NONE|QUEUESTART|"
    assert NORTH.queue_log_line(start) == start  # no call, no queue: nothing to name
    assert NORTH.queue_log_line("garbage") == "garbage"  # the ledger counts it as malformed
    assert MAIN.queue_log_line(line) == line


def test_site_names_are_what_ids_and_labels_can_carry() -> None:
    assert valid_name("north") and valid_name("site-2")
    for bad in ("", "North", "a:b", "-x", "x" * 33, "a b"):
        assert not valid_name(bad), bad


def _load(tmp_path: Path, text: str) -> config.Config:
    path = tmp_path / "cc.toml"
    path.write_text(text, encoding="utf-8")
    return config.load(path)


def test_pbx_tables_in_the_config_file(tmp_path: Path) -> None:
    c = _load(tmp_path, '[[pbx]]\nname = "main"\nami_host = "10.0.0.1"\nami_secret = "a"\n'
                        '[[pbx]]\nname = "north"\nami_port = "5039"\n'
                        'queue_log = "/srv/north/queue_log"\n')
    assert c.pbxes == (Pbx("main", "10.0.0.1", ami_secret="a"),
                       Pbx("north", ami_port=5039, queue_log="/srv/north/queue_log"))
    assert c.pbxes[1].queue_log_path == "/srv/north/queue_log"


def test_without_pbx_tables_the_one_pbx_is_the_ami_settings() -> None:
    c = config.load(overrides={"ami_port": "6000", "pbx_name": "Town Hall", "queue_log": ""})
    assert c.pbxes == (Pbx("Town Hall", ami_port=6000, queue_log=""),)  # any old name stays


@pytest.mark.parametrize(("text", "says"), [
    ('[[pbx]]\nname = "Main"\n', "not a site name"),
    ('[[pbx]]\nname = "a"\n[[pbx]]\nname = "a"\n', "each site's name once"),
    ('[[pbx]]\nami_host = "x"\n', "give a name"),
    ('[[pbx]]\nname = "a"\nsecret = "x"\n', "unknown keys: ['secret']"),
    ('[[pbx]]\nname = "a"\nami_port = 70000\n', "ami_port must be a TCP port"),
    ('[[pbx]]\nname = "a"\nami_port = "x"\n', "is not a valid int"),
    ('pbx = "main"\n', "[[pbx]] tables"),
])
def test_bad_pbx_tables_are_refused_naming_the_fault(tmp_path: Path, text: str,
                                                     says: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text)
    assert says in str(err.value)


def test_pbx_cannot_be_given_in_the_environment() -> None:
    with pytest.raises(ConfigError, match=r"\[\[pbx\]\] tables"):
        config.load(env={"CALLCENTRE_PBX": "main,north"})


async def test_a_resync_closes_only_its_own_sites_calls() -> None:
    """North's PBX came back: its resync must not close the main PBX's call, which north's
    Asterisk knows nothing of."""
    calls = InMemoryCallRepository()
    svc = service(calls)
    await feed(svc, a_call("1.0", 0, outcome_hangup=False))
    await feed(svc, [NORTH.event(e) for e in a_call("1.0", 1, outcome_hangup=False)])
    await feed(svc, [NORTH.event(e) for e in a_call("2.0", 2, outcome_hangup=False)])
    svc.resync_started(NORTH.event(ResyncStarted(T0)))
    svc.resynced(NORTH.event(Resynced(T0, 1, frozenset({"2.0"}), frozenset({"2.0"}), (), ())))
    await svc.flush()
    assert sorted(c.linkedid for c in svc.tracker.active()) == ["1.0", "north:2.0"]
    svc.resync_started(MAIN.event(ResyncStarted(T0)))
    svc.resynced(MAIN.event(Resynced(T0, 0, frozenset(), frozenset(), (), ())))
    assert [c.linkedid for c in svc.tracker.active()] == ["north:2.0"]


async def test_taking_back_a_sites_calls_leaves_the_others_to_their_leader() -> None:
    calls = InMemoryCallRepository()
    first = service(calls)
    await feed(first, a_call("1.0", 0, outcome_hangup=False))
    await feed(first, [NORTH.event(e) for e in a_call("1.0", 1, outcome_hangup=False)])
    await first.flush()
    north_leader = service(calls)
    assert await north_leader.recover("north:") == 1
    assert [c.linkedid for c in north_leader.tracker.active()] == ["north:1.0"]
    assert await service(calls).recover("") == 1


async def test_each_sites_dialler_dials_its_own_callbacks_and_hears_only_its_pbx() -> None:
    """One dialler per PBX (services/diallers.py): each dials its site's callbacks through
    its PBX, to the agents its PBX reports (the same device name at both), and hears only
    its own PBX's legs and resyncs, whose ids and queues come named by site."""
    clock = FakeClock(CB_T0)
    repo = InMemoryCallbackRepository()
    service = _callbacks(repo, clock)
    pbxs, diallers = _dialler_per_site(service, repo, clock)
    assert [a.queues for a in diallers.board.all()] == [{"council"}, {"north:council"}]
    mains = [await service.create(NewCallback(f"0770090012{n}", "bins", "Sam")) for n in (1, 2)]
    north = await service.create(NewCallback("07700900123", "bins", "Sam", site="north"))
    with pytest.raises(InvalidInput, match="site must be one of: main, north"):
        await service.create(NewCallback("07700900124", "bins", "Sam", site="south"))
    for dialler in diallers:
        await dialler.tick()
    assert [r.callback_id for r in pbxs[0].originated] == [mains[0].id]  # one agent: one call
    assert [r.callback_id for r in pbxs[1].originated] == [north.id]
    leg = pbxs[1].originated[0].channel_id
    # the main PBX's resync knows nothing of north's leg: it stays north's to follow
    diallers.resynced(MAIN.event(Resynced(CB_T0, 0, frozenset(), frozenset(), (), ())))
    await service.drain()
    assert (await repo.get(north.id or 0)).status is Status.DIALLING
    # north's agent did not answer, and the leg hung up: north's dialler hears both (the
    # hang-up's id named "north:"); the same said of the main PBX is not north's
    diallers.handle(MAIN.event(cev.AgentLegFailed(None, leg, CB_T0, 3)))
    diallers.caller_hung_up(MAIN.event(ev.CallerHungUp(leg, CB_T0, 16)))
    await service.drain()
    assert (await repo.get(north.id or 0)).status is Status.DIALLING
    diallers.handle(NORTH.event(cev.AgentLegFailed(None, leg, CB_T0, 3)))
    diallers.caller_hung_up(NORTH.event(ev.CallerHungUp(leg, CB_T0, 16)))
    await service.drain()
    assert (await repo.get(north.id or 0)).status is Status.PENDING  # to be tried again
    assert (await repo.get(mains[0].id or 0)).status is Status.DIALLING
    main_leg = pbxs[0].originated[0].channel_id  # and the main PBX's own, without a prefix
    diallers.handle(MAIN.event(cev.AgentLegFailed(None, main_leg, CB_T0, 3)))
    diallers.caller_hung_up(MAIN.event(ev.CallerHungUp(main_leg, CB_T0, 16)))
    await service.drain()
    assert (await repo.get(mains[0].id or 0)).status is Status.PENDING
    assert diallers.not_placed() == (0, 0, None) and set(diallers.ready) == {mains[1].id}
    # the survey after north's callback comes named "north:" too; its attempt keeps the
    # ChannelId as north's Asterisk has it
    service.on_survey(NORTH.event(ev.SurveyOffered(leg, CB_T0, north.id)))
    service.on_survey(NORTH.event(ev.SurveyAnswered(leg, CB_T0, "satisfaction", "4",
                                                    north.id)))
    await service.drain()
    (attempt,) = (await repo.get(north.id or 0)).attempts
    assert (attempt.survey_offered, attempt.survey_satisfaction) == (True, 4)


async def test_a_sites_stuck_leg_check_names_the_members_its_pbx_reports() -> None:
    """Without a resync's answers (the stuck-leg check asks the PBX itself), north's queue
    members are named by site as every other north event is: a pause at north then pauses
    the agent, who is not rung with callbacks meanwhile."""
    clock, repo = FakeClock(CB_T0), InMemoryCallbackRepository()
    service = _callbacks(repo, clock)
    pbx = FakePbx()
    pbx.members = [cev.MemberChanged("council", "PJSIP/agent1", "Agent 1", False, 1, False)]
    dialler = _dialler(service, repo, clock, pbx, NORTH)
    await dialler.resync()
    assert [a.queues for a in dialler.board.all()] == [{"north:council"}]
    dialler.handle(NORTH.event(
        cev.MemberChanged("council", "PJSIP/agent1", "Agent 1", True, 1, False)))
    assert dialler.board.available() == []


async def test_health_names_the_site_whose_pbx_did_not_place_a_callback() -> None:
    clock, repo = FakeClock(CB_T0), InMemoryCallbackRepository()
    service = _callbacks(repo, clock)
    pbxs, diallers = _dialler_per_site(service, repo, clock)
    await service.create(NewCallback("07700900123", "bins", "Sam", site="north"))
    pbxs[1].refuse = True
    for dialler in diallers:
        await dialler.tick()
    assert diallers.not_placed() == (1, 1, "north: fake PBX refused")


async def test_agents_see_every_sites_due_callbacks_soonest_first() -> None:
    """Different instances lead different PBXs: the agent page lists the callbacks due now
    from every leader's view by deadline, not one site's after another's."""
    clock, repo = FakeClock(CB_T0), InMemoryCallbackRepository()
    service = _callbacks(repo, clock)
    made = [await service.create(NewCallback(f"0770090012{n}", "bins", "Sam", site=site,
                                             due_by=CB_T0 + timedelta(minutes=minutes)))
            for n, (site, minutes) in enumerate((("main", 30), ("main", 90), ("north", 60)))]
    main = _dialler(service, repo, clock, FakePbx(), MAIN)
    board = CallbackBoard(repo, service, Diallers([main]), clock)
    views = [LeaderLive(ready=(made[0].id or 0, made[1].id or 0)),
             LeaderLive(ready=(made[2].id or 0,), site="north:")]
    board.remote = lambda: merged(views)
    prompts = await board.prompts(None)
    assert [c.id for c, _ in prompts.due] == [made[0].id, made[2].id, made[1].id]
    assert prompts.upcoming == []  # each is listed once, as due now
    # a call from a site no longer configured owes a callback the main PBX dials
    gone = await service.create(NewCallback("07700900129", "missed call", "system",
                                            source=Source.ABANDONED,
                                            source_linkedid="south:1796.5"))
    assert gone.site == ""


async def test_callbacks_of_a_pbx_no_longer_configured_go_to_the_main_one() -> None:
    """A site removed (or renamed) from the config leaves no open callback without a
    dialler: the main PBX's takes them, and their history says why."""
    clock, repo = FakeClock(CB_T0), InMemoryCallbackRepository()
    old = _callbacks(repo, clock, sites=("main", "south"))
    south = await old.create(NewCallback("07700900123", "bins", "Sam", site="south"))
    done = await old.create(NewCallback("07700900124", "bins", "Sam", site="south"))
    await old.cancel(done.id or 0, "sorted by phone", "Sam")
    service = _callbacks(repo, clock)
    north = await service.create(NewCallback("07700900125", "bins", "Sam", site="north"))
    assert await service.adopt_orphans() == 1
    moved = await repo.get(south.id or 0)
    assert moved.site == "" and moved.history[-1].action == "site"
    assert moved.history[-1].reason == "PBX south is no longer configured"
    assert (await repo.get(done.id or 0)).site == "south"  # closed: nothing to dial
    assert (await repo.get(north.id or 0)).site == "north"
    assert await service.adopt_orphans() == 0
