"""The editorial state machine, checked against tables written out by hand."""

from datetime import UTC, datetime, timedelta

import pytest

from services.content.workflow import (
    CENTRAL_PIPELINE,
    PROVINCIAL_PIPELINE,
    Action,
    ActionForbidden,
    Actor,
    EditNotAllowed,
    ItemState,
    Pipeline,
    Role,
    Stage,
    Status,
    TransitionInvalid,
    TransitionNotAllowed,
    TransitionRequest,
    allowed_actions,
    can_edit,
    decide,
    pipeline_from_config,
)

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=2)
AUTHOR = "u-author"
PIPELINES = {"provincial": PROVINCIAL_PIPELINE, "central": CENTRAL_PIPELINE}

ADMIN = Actor("u-admin", Role.ADMIN)
SUPERADMIN = Actor("u-root", None, is_superadmin=True)
SYSTEM = Actor("scheduler", None, is_system=True)
OUTSIDER = Actor("u-outsider", None)


def member(role, user_id="u-other"):
    return Actor(user_id, role)


def state(name):
    """Build a state from a name like `in_review@1`, `draft+live` or `published`."""
    live = name.endswith("+live") or name == "published"
    base = name.removesuffix("+live")
    status, _, stage = base.partition("@")
    return ItemState(Status(status), int(stage) if stage else None, live, AUTHOR)


def request(action, **overrides):
    """A request with inputs every action accepts."""
    values = {"comment": "Lý do: sai số liệu", "publish_at": LATER}
    return TransitionRequest(Action(action), NOW, **{**values, **overrides})


# Every state of each pipeline, and for each the actions allowed from it with the resulting
# `status[@stage][+live]`. Every (state, action) pair NOT listed must be refused with 409.
EXPECTED = {
    "provincial": {
        "draft": {"submit": "in_review@0", "archive": "archived"},
        "draft+live": {"submit": "in_review@0+live", "unpublish": "unpublished"},
        "returned": {"submit": "in_review@0", "archive": "archived"},
        "returned+live": {"submit": "in_review@0+live", "unpublish": "unpublished"},
        "in_review@0": {"forward": "in_review@1", "return": "returned"},
        "in_review@0+live": {
            "forward": "in_review@1+live",
            "return": "returned+live",
            "unpublish": "unpublished",
        },
        "in_review@1": {"return": "returned", "publish": "published", "schedule": "scheduled"},
        "in_review@1+live": {
            "return": "returned+live",
            "publish": "published",
            "schedule": "scheduled+live",
            "unpublish": "unpublished",
        },
        "scheduled": {"publish": "published", "schedule": "scheduled"},
        "scheduled+live": {
            "publish": "published",
            "schedule": "scheduled+live",
            "unpublish": "unpublished",
        },
        "published": {"unpublish": "unpublished"},
        "unpublished": {"submit": "in_review@0", "archive": "archived"},
        "archived": {},
    },
    "central": {
        "draft": {"submit": "in_review@0", "archive": "archived"},
        "draft+live": {"submit": "in_review@0+live", "unpublish": "unpublished"},
        "returned": {"submit": "in_review@0", "archive": "archived"},
        "returned+live": {"submit": "in_review@0+live", "unpublish": "unpublished"},
        "in_review@0": {"forward": "in_review@1", "return": "returned"},
        "in_review@1": {"forward": "in_review@2", "return": "returned"},
        "in_review@1+live": {
            "forward": "in_review@2+live",
            "return": "returned+live",
            "unpublish": "unpublished",
        },
        "in_review@2": {"return": "returned", "publish": "published", "schedule": "scheduled"},
        "in_review@2+live": {
            "return": "returned+live",
            "publish": "published",
            "schedule": "scheduled+live",
            "unpublish": "unpublished",
        },
        "scheduled": {"publish": "published", "schedule": "scheduled"},
        "scheduled+live": {
            "publish": "published",
            "schedule": "scheduled+live",
            "unpublish": "unpublished",
        },
        "published": {"unpublish": "unpublished"},
        "unpublished": {"submit": "in_review@0", "archive": "archived"},
        "archived": {},
    },
}
PAIRS = [
    (pipeline, name, action, EXPECTED[pipeline][name].get(action))
    for pipeline in EXPECTED
    for name in EXPECTED[pipeline]
    for action in (
        "submit",
        "forward",
        "return",
        "publish",
        "schedule",
        "unpublish",
        "archive",
    )
]


def describe(outcome):
    """The inverse of `state`: `in_review@1+live`; a published item is always live."""
    stage = f"@{outcome.stage}" if outcome.stage is not None else ""
    live = "+live" if outcome.is_live and outcome.status is not Status.PUBLISHED else ""
    return f"{outcome.status}{stage}{live}"


class TestDecideStateTable:
    @pytest.mark.parametrize(("pipeline", "name", "action", "expected"), PAIRS)
    def test_pair(self, pipeline, name, action, expected):
        def run():
            return decide(state(name), ADMIN, PIPELINES[pipeline], request(action))

        if expected is None:
            with pytest.raises(TransitionNotAllowed) as caught:
                run()
            assert caught.value.status == 409
        else:
            assert describe(run()) == expected

    def test_table_covers_every_status_and_action(self):
        for rows in EXPECTED.values():
            assert {state(name).status for name in rows} == set(Status)
        assert len({p[2] for p in PAIRS}) == len(Action)

    def test_refusal_names_action_and_state_in_both_languages(self):
        with pytest.raises(TransitionNotAllowed) as caught:
            decide(state("draft"), ADMIN, PROVINCIAL_PIPELINE, request("publish"))
        detail = caught.value.detail
        assert "xuất bản" in detail.vi
        assert "bản nháp" in detail.vi
        assert "publish" in detail.en
        assert "draft" in detail.en

    def test_refusal_in_review_names_the_stage(self):
        with pytest.raises(TransitionNotAllowed) as caught:
            decide(state("in_review@0"), ADMIN, CENTRAL_PIPELINE, request("publish"))
        assert "Biên tập viên duyệt" in caught.value.detail.vi
        assert "Editor review" in caught.value.detail.en

    def test_pipeline_shortened_while_in_review_counts_as_last_stage(self):
        outcome = decide(state("in_review@2"), ADMIN, PROVINCIAL_PIPELINE, request("publish"))
        assert outcome.status is Status.PUBLISHED


# (pipeline, state, action, roles allowed); every other role gets 403. Actor is not the author.
ROLE_TABLE = [
    ("provincial", "draft", "submit", {"editor", "head", "approver", "admin"}),
    ("provincial", "in_review@0", "forward", {"editor", "head", "approver", "admin"}),
    ("provincial", "in_review@0", "return", {"editor", "head", "approver", "admin"}),
    ("provincial", "in_review@1", "return", {"approver", "admin"}),
    ("provincial", "in_review@1", "publish", {"approver", "admin"}),
    ("provincial", "in_review@1", "schedule", {"approver", "admin"}),
    ("provincial", "scheduled", "publish", {"approver", "admin"}),
    ("provincial", "scheduled", "schedule", {"approver", "admin"}),
    ("provincial", "published", "unpublish", {"approver", "admin"}),
    ("provincial", "draft+live", "unpublish", {"approver", "admin"}),
    ("provincial", "draft", "archive", {"approver", "admin"}),
    ("provincial", "unpublished", "archive", {"approver", "admin"}),
    ("provincial", "unpublished", "submit", {"editor", "head", "approver", "admin"}),
    ("central", "returned", "submit", {"editor", "head", "approver", "admin"}),
    ("central", "in_review@0", "forward", {"editor", "head", "approver", "admin"}),
    ("central", "in_review@1", "forward", {"head", "approver", "admin"}),
    ("central", "in_review@1", "return", {"head", "approver", "admin"}),
    ("central", "in_review@2", "return", {"approver", "admin"}),
    ("central", "in_review@2", "publish", {"approver", "admin"}),
    ("central", "in_review@2", "schedule", {"approver", "admin"}),
    ("central", "published", "unpublish", {"approver", "admin"}),
    ("central", "returned", "archive", {"approver", "admin"}),
]
ROLE_PAIRS = [(*row, role) for row in ROLE_TABLE for role in Role]


class TestDecideRoles:
    @pytest.mark.parametrize(("pipeline", "name", "action", "allowed", "role"), ROLE_PAIRS)
    def test_role(self, pipeline, name, action, allowed, role):
        def run():
            return decide(state(name), member(role), PIPELINES[pipeline], request(action))

        if role.value in allowed:
            run()
        else:
            with pytest.raises(ActionForbidden) as caught:
                run()
            assert caught.value.status == 403

    @pytest.mark.parametrize("role", list(Role))
    @pytest.mark.parametrize("name", ["draft", "returned"])
    def test_author_of_any_role_may_submit(self, role, name):
        outcome = decide(state(name), member(role, AUTHOR), PROVINCIAL_PIPELINE, request("submit"))
        assert outcome.status is Status.IN_REVIEW

    @pytest.mark.parametrize(
        ("name", "action"),
        [
            ("in_review@0", "forward"),
            ("in_review@0", "return"),
            ("in_review@1", "publish"),
            ("published", "unpublish"),
            ("draft", "archive"),
        ],
    )
    def test_contributor_author_is_forbidden_beyond_submit(self, name, action):
        with pytest.raises(ActionForbidden):
            decide(
                state(name),
                member(Role.CONTRIBUTOR, AUTHOR),
                PROVINCIAL_PIPELINE,
                request(action),
            )

    @pytest.mark.parametrize(("pipeline", "name", "action", "allowed"), ROLE_TABLE)
    def test_non_member_is_forbidden(self, pipeline, name, action, allowed):
        with pytest.raises(ActionForbidden) as caught:
            decide(state(name), OUTSIDER, PIPELINES[pipeline], request(action))
        assert "thành viên" in caught.value.detail.vi

    def test_non_member_gets_409_first_when_state_refuses(self):
        with pytest.raises(TransitionNotAllowed):
            decide(state("archived"), OUTSIDER, PROVINCIAL_PIPELINE, request("archive"))

    @pytest.mark.parametrize(("pipeline", "name", "action", "allowed"), ROLE_TABLE)
    def test_superadmin_may_do_what_any_role_may(self, pipeline, name, action, allowed):
        decide(state(name), SUPERADMIN, PIPELINES[pipeline], request(action))

    def test_state_is_checked_before_role(self):
        with pytest.raises(TransitionNotAllowed):
            decide(
                state("draft"), member(Role.CONTRIBUTOR), PROVINCIAL_PIPELINE, request("publish")
            )

    def test_role_is_checked_before_inputs(self):
        with pytest.raises(ActionForbidden):
            decide(
                state("in_review@1"),
                member(Role.EDITOR),
                PROVINCIAL_PIPELINE,
                request("return", comment=None),
            )

    def test_forbidden_message_names_the_role_needed(self):
        with pytest.raises(ActionForbidden) as caught:
            decide(state("in_review@1"), member(Role.EDITOR), CENTRAL_PIPELINE, request("forward"))
        assert "trưởng đơn vị" in caught.value.detail.vi
        assert "head of unit" in caught.value.detail.en


class TestDecideSystemActor:
    @pytest.mark.parametrize(
        ("name", "action", "expected"),
        [
            ("scheduled", "publish", "published"),
            ("scheduled+live", "publish", "published"),
            ("published", "unpublish", "unpublished"),
            ("draft+live", "unpublish", "unpublished"),
            ("scheduled+live", "unpublish", "unpublished"),
        ],
    )
    def test_allowed(self, name, action, expected):
        outcome = decide(state(name), SYSTEM, PROVINCIAL_PIPELINE, request(action))
        assert describe(outcome) == expected

    @pytest.mark.parametrize(
        ("name", "action"),
        [
            ("draft", "submit"),
            ("in_review@0", "forward"),
            ("in_review@0", "return"),
            ("in_review@1", "publish"),
            ("in_review@1", "schedule"),
            ("scheduled", "schedule"),
            ("draft", "archive"),
        ],
    )
    def test_forbidden(self, name, action):
        with pytest.raises(ActionForbidden) as caught:
            decide(state(name), SYSTEM, PROVINCIAL_PIPELINE, request(action))
        assert "lập lịch" in caught.value.detail.vi

    def test_unpublish_needs_a_reason(self):
        with pytest.raises(TransitionInvalid):
            decide(
                state("published"), SYSTEM, PROVINCIAL_PIPELINE, request("unpublish", comment="")
            )


def field_codes(caught):
    return {(e.field, e.code) for e in caught.value.errors}


class TestDecideInputs:
    @pytest.mark.parametrize("comment", [None, "", "   \n\t"])
    @pytest.mark.parametrize(
        ("name", "action"), [("in_review@0", "return"), ("published", "unpublish")]
    )
    def test_comment_required(self, name, action, comment):
        with pytest.raises(TransitionInvalid) as caught:
            decide(state(name), ADMIN, PROVINCIAL_PIPELINE, request(action, comment=comment))
        assert caught.value.status == 422
        assert field_codes(caught) == {("comment", "required")}

    def test_schedule_without_publish_at(self):
        with pytest.raises(TransitionInvalid) as caught:
            decide(
                state("in_review@1"),
                ADMIN,
                PROVINCIAL_PIPELINE,
                request("schedule", publish_at=None),
            )
        assert field_codes(caught) == {("publish_at", "required")}

    @pytest.mark.parametrize("publish_at", [NOW - timedelta(minutes=1), NOW])
    def test_schedule_in_the_past(self, publish_at):
        with pytest.raises(TransitionInvalid) as caught:
            decide(
                state("in_review@1"),
                ADMIN,
                PROVINCIAL_PIPELINE,
                request("schedule", publish_at=publish_at),
            )
        assert field_codes(caught) == {("publish_at", "past")}

    def test_schedule_unpublish_before_publish(self):
        with pytest.raises(TransitionInvalid) as caught:
            decide(
                state("scheduled"),
                ADMIN,
                PROVINCIAL_PIPELINE,
                request("schedule", unpublish_at=LATER - timedelta(minutes=1)),
            )
        assert field_codes(caught) == {("unpublish_at", "past")}

    def test_schedule_reports_every_problem_at_once(self):
        with pytest.raises(TransitionInvalid) as caught:
            decide(
                state("scheduled"),
                ADMIN,
                PROVINCIAL_PIPELINE,
                request("schedule", publish_at=NOW - timedelta(days=2), unpublish_at=NOW),
            )
        assert field_codes(caught) == {("publish_at", "past"), ("unpublish_at", "past")}

    def test_schedule_keeps_the_times(self):
        until = LATER + timedelta(days=7)
        outcome = decide(
            state("in_review@1"),
            ADMIN,
            PROVINCIAL_PIPELINE,
            request("schedule", unpublish_at=until),
        )
        assert (outcome.publish_at, outcome.unpublish_at) == (LATER, until)
        assert not outcome.goes_live
        assert not outcome.takes_down

    def test_publish_with_past_unpublish_at(self):
        with pytest.raises(TransitionInvalid) as caught:
            decide(
                state("in_review@1"),
                ADMIN,
                PROVINCIAL_PIPELINE,
                request("publish", unpublish_at=NOW),
            )
        assert field_codes(caught) == {("unpublish_at", "past")}

    def test_publish_goes_live(self):
        outcome = decide(
            state("in_review@1"), ADMIN, PROVINCIAL_PIPELINE, request("publish", unpublish_at=LATER)
        )
        assert outcome.status is Status.PUBLISHED
        assert outcome.is_live
        assert outcome.goes_live
        assert not outcome.takes_down
        assert (outcome.publish_at, outcome.unpublish_at) == (NOW, LATER)

    def test_unpublish_takes_down(self):
        outcome = decide(state("published"), ADMIN, PROVINCIAL_PIPELINE, request("unpublish"))
        assert outcome.takes_down
        assert not outcome.is_live
        assert not outcome.goes_live
        assert outcome.stage is None

    def test_naive_times_are_a_programming_error(self):
        with pytest.raises(ValueError, match="timezone-aware"):
            TransitionRequest(Action.PUBLISH, datetime(2025, 1, 1))


class TestCentralWalk:
    def test_editor_head_board(self):
        pipeline, item = CENTRAL_PIPELINE, state("draft")
        steps = [
            (member(Role.CONTRIBUTOR, AUTHOR), "submit", "in_review@0"),
            (member(Role.EDITOR), "forward", "in_review@1"),
            (member(Role.HEAD), "forward", "in_review@2"),
            (member(Role.APPROVER), "publish", "published"),
        ]
        for actor, action, expected in steps:
            outcome = decide(item, actor, pipeline, request(action))
            assert describe(outcome) == expected
            item = ItemState(outcome.status, outcome.stage, outcome.is_live, AUTHOR)
        assert item.status is Status.PUBLISHED

    def test_editor_cannot_pass_head_stage(self):
        with pytest.raises(ActionForbidden):
            decide(state("in_review@1"), member(Role.EDITOR), CENTRAL_PIPELINE, request("forward"))

    def test_head_may_return(self):
        outcome = decide(
            state("in_review@1"), member(Role.HEAD), CENTRAL_PIPELINE, request("return")
        )
        assert outcome.status is Status.RETURNED
        assert outcome.stage is None

    def test_head_cannot_publish(self):
        with pytest.raises(ActionForbidden):
            decide(state("in_review@2"), member(Role.HEAD), CENTRAL_PIPELINE, request("publish"))


def try_decide(item, actor, pipeline, action):
    try:
        decide(item, actor, pipeline, request(action))
    except (TransitionNotAllowed, ActionForbidden):
        return False
    return True


ACTORS = [
    *(member(role) for role in Role),
    *(member(role, AUTHOR) for role in Role),
    SUPERADMIN,
    SYSTEM,
    OUTSIDER,
]


class TestAllowedActions:
    @pytest.mark.parametrize("pipeline", list(EXPECTED))
    def test_matches_decide(self, pipeline):
        for name in EXPECTED[pipeline]:
            for actor in ACTORS:
                item, pipe = state(name), PIPELINES[pipeline]
                expected = [a for a in Action if try_decide(item, actor, pipe, a)]
                assert allowed_actions(item, actor, pipe) == expected, (name, actor)

    def test_admin_sees_the_state_table(self):
        for pipeline, rows in EXPECTED.items():
            for name, allowed in rows.items():
                got = allowed_actions(state(name), ADMIN, PIPELINES[pipeline])
                assert {a.value for a in got} == set(allowed), (pipeline, name)

    def test_contributor_author_on_draft(self):
        got = allowed_actions(state("draft"), member(Role.CONTRIBUTOR, AUTHOR), PROVINCIAL_PIPELINE)
        assert got == [Action.SUBMIT]


# (state, role, is author, expected status after the edit, or the error class)
EDIT_TABLE = [
    ("draft", Role.CONTRIBUTOR, True, Status.DRAFT),
    ("draft", Role.CONTRIBUTOR, False, ActionForbidden),
    ("draft", Role.EDITOR, False, Status.DRAFT),
    ("returned", Role.CONTRIBUTOR, True, Status.RETURNED),
    ("returned", Role.EDITOR, False, Status.RETURNED),
    ("in_review@0", Role.CONTRIBUTOR, True, ActionForbidden),
    ("in_review@0", Role.EDITOR, False, Status.IN_REVIEW),
    ("in_review@1", Role.EDITOR, False, ActionForbidden),
    ("in_review@1", Role.EDITOR, True, ActionForbidden),
    ("in_review@1", Role.APPROVER, False, Status.IN_REVIEW),
    ("scheduled", Role.EDITOR, True, ActionForbidden),
    ("scheduled", Role.APPROVER, False, Status.DRAFT),
    ("scheduled+live", Role.ADMIN, False, Status.DRAFT),
    ("published", Role.CONTRIBUTOR, True, Status.DRAFT),
    ("published", Role.CONTRIBUTOR, False, ActionForbidden),
    ("published", Role.EDITOR, False, Status.DRAFT),
    ("unpublished", Role.CONTRIBUTOR, True, Status.DRAFT),
    ("unpublished", Role.HEAD, False, Status.DRAFT),
    ("draft+live", Role.CONTRIBUTOR, True, Status.DRAFT),
    ("archived", Role.ADMIN, False, EditNotAllowed),
    ("archived", Role.CONTRIBUTOR, True, EditNotAllowed),
]


class TestCanEdit:
    @pytest.mark.parametrize(("name", "role", "is_author", "expected"), EDIT_TABLE)
    def test_table(self, name, role, is_author, expected):
        actor = member(role, AUTHOR if is_author else "u-other")
        if isinstance(expected, Status):
            assert can_edit(state(name), actor, PROVINCIAL_PIPELINE) is expected
        else:
            with pytest.raises(expected):
                can_edit(state(name), actor, PROVINCIAL_PIPELINE)

    def test_central_head_stage_needs_head(self):
        with pytest.raises(ActionForbidden):
            can_edit(state("in_review@1"), member(Role.EDITOR), CENTRAL_PIPELINE)
        assert (
            can_edit(state("in_review@1"), member(Role.HEAD), CENTRAL_PIPELINE) is Status.IN_REVIEW
        )

    @pytest.mark.parametrize("actor", [OUTSIDER, SYSTEM, Actor(AUTHOR, None)])
    def test_non_members_and_scheduler_cannot_edit(self, actor):
        with pytest.raises(ActionForbidden):
            can_edit(state("draft"), actor, PROVINCIAL_PIPELINE)

    def test_superadmin_can_edit(self):
        assert can_edit(state("scheduled"), SUPERADMIN, PROVINCIAL_PIPELINE) is Status.DRAFT

    def test_archived_is_409(self):
        with pytest.raises(EditNotAllowed) as caught:
            can_edit(state("archived"), ADMIN, PROVINCIAL_PIPELINE)
        assert caught.value.status == 409


class TestPipelineConfig:
    @pytest.mark.parametrize("pipeline", [PROVINCIAL_PIPELINE, CENTRAL_PIPELINE])
    def test_round_trip(self, pipeline):
        assert pipeline_from_config(pipeline.to_config()) == pipeline

    def test_default_pipelines(self):
        assert [s.role for s in PROVINCIAL_PIPELINE.stages] == [Role.EDITOR, Role.APPROVER]
        assert [s.key for s in CENTRAL_PIPELINE.stages] == [
            "editor_review",
            "head_review",
            "board_approval",
        ]
        assert CENTRAL_PIPELINE.stages[1].name.vi == "Trưởng đơn vị duyệt"

    def test_single_stage(self):
        pipeline = pipeline_from_config(
            [{"key": "chief", "name": {"vi": "Tổng biên tập", "en": "Chief"}, "role": "approver"}]
        )
        outcome = decide(state("in_review@0"), member(Role.APPROVER), pipeline, request("publish"))
        assert outcome.goes_live

    @pytest.mark.parametrize(
        "config",
        [
            [],
            "editor",
            [{"key": "a", "name": {"vi": "A", "en": "A"}}],
            [{"key": "a", "name": {"vi": "A", "en": "A"}, "role": "chief"}],
            [{"key": "a", "name": {"vi": "A", "en": "A"}, "role": ["editor"]}],
            [{"key": "a", "name": {"vi": "A", "en": "A"}, "role": "contributor"}],
            [{"key": "a", "name": "A", "role": "editor"}],
            [{"key": "a", "name": {"vi": "", "en": "A"}, "role": "editor"}],
            [{"key": "a", "name": {"vi": "A", "en": "A"}, "role": "editor", "x": 1}],
            [{"key": "", "name": {"vi": "A", "en": "A"}, "role": "editor"}],
            [{"key": 3, "name": {"vi": "A", "en": "A"}, "role": "editor"}],
            [
                {"key": "a", "name": {"vi": "A", "en": "A"}, "role": "editor"},
                {"key": "a", "name": {"vi": "B", "en": "B"}, "role": "approver"},
            ],
        ],
    )
    def test_invalid(self, config):
        with pytest.raises(ValueError):  # noqa: PT011
            pipeline_from_config(config)

    def test_direct_construction_is_validated(self):
        with pytest.raises(ValueError, match="at least one"):
            Pipeline(())
        with pytest.raises(ValueError, match="editor or higher"):
            Pipeline((Stage("x", CENTRAL_PIPELINE.stages[0].name, Role.CONTRIBUTOR),))


class TestItemState:
    @pytest.mark.parametrize(
        ("status", "stage", "is_live"),
        [
            (Status.DRAFT, 0, False),
            (Status.IN_REVIEW, None, False),
            (Status.IN_REVIEW, -1, False),
            (Status.PUBLISHED, None, False),
            (Status.UNPUBLISHED, None, True),
            (Status.ARCHIVED, None, True),
        ],
    )
    def test_inconsistent_state_is_refused(self, status, stage, is_live):
        with pytest.raises(ValueError):  # noqa: PT011
            ItemState(status, stage, is_live, AUTHOR)

    def test_role_rank_order(self):
        assert [r.rank for r in Role] == [0, 1, 2, 3, 4]
        assert Action.RETURN_.value == "return"
