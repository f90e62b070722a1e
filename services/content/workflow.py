"""The editorial state machine: who may move an item from which state, and where it lands.

    draft ─submit─▶ in_review[0] ─forward─▶ … in_review[last] ─publish─▶ published
                      │ return (comment)          │ schedule                ▲
                      ▼                           ▼                         │ publish (now, or
                    returned ─submit─▶ …        scheduled (re-schedule) ────┘  by the scheduler)
    edit of a published / unpublished / scheduled item ─▶ draft (the live revision stays online)
    unpublish (reason) whenever a revision is live ─▶ unpublished
    archive from draft / returned / unpublished when nothing is live ─▶ archived (final)

Each review stage names the lowest role that may pass it (`Pipeline`); publishing, scheduling,
taking down and archiving need the role of the last stage. Checks run in a fixed order so
clients get a stable answer: state (409 `TransitionNotAllowed`), then role (403
`ActionForbidden`), then inputs (422 `TransitionInvalid`). No I/O happens here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any

from services.common.errors import Conflict, FieldError, Forbidden, Unprocessable
from services.common.i18n import Msg


class Role(StrEnum):
    """A member's role in one portal, declared from lowest to highest rank."""

    CONTRIBUTOR = "contributor"
    EDITOR = "editor"
    HEAD = "head"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Position in the rank order (contributor 0 … admin 4)."""
        return list(Role).index(self)


class Status(StrEnum):
    """Where an item's working revision stands in the workflow."""

    DRAFT = "draft"
    IN_REVIEW = "in_review"
    RETURNED = "returned"
    SCHEDULED = "scheduled"
    PUBLISHED = "published"
    UNPUBLISHED = "unpublished"
    ARCHIVED = "archived"


class Action(StrEnum):
    """A workflow transition a client can request."""

    SUBMIT = "submit"
    FORWARD = "forward"
    RETURN_ = "return"
    PUBLISH = "publish"
    SCHEDULE = "schedule"
    UNPUBLISH = "unpublish"
    ARCHIVE = "archive"


ACTION_NAMES: dict[Action, Msg] = {
    Action.SUBMIT: Msg("gửi duyệt", "submit"),
    Action.FORWARD: Msg("chuyển bước duyệt tiếp theo", "forward"),
    Action.RETURN_: Msg("trả lại", "return"),
    Action.PUBLISH: Msg("xuất bản", "publish"),
    Action.SCHEDULE: Msg("hẹn giờ xuất bản", "schedule"),
    Action.UNPUBLISH: Msg("gỡ bài", "unpublish"),
    Action.ARCHIVE: Msg("lưu trữ", "archive"),
}
STATUS_NAMES: dict[Status, Msg] = {
    Status.DRAFT: Msg("bản nháp", "draft"),
    Status.IN_REVIEW: Msg("đang duyệt", "in review"),
    Status.RETURNED: Msg("bị trả lại", "returned"),
    Status.SCHEDULED: Msg("đã hẹn giờ xuất bản", "scheduled"),
    Status.PUBLISHED: Msg("đã xuất bản", "published"),
    Status.UNPUBLISHED: Msg("đã gỡ", "unpublished"),
    Status.ARCHIVED: Msg("đã lưu trữ", "archived"),
}
ROLE_NAMES: dict[Role, Msg] = {
    Role.CONTRIBUTOR: Msg("cộng tác viên", "contributor"),
    Role.EDITOR: Msg("biên tập viên", "editor"),
    Role.HEAD: Msg("trưởng đơn vị", "head of unit"),
    Role.APPROVER: Msg("lãnh đạo phê duyệt", "approver"),
    Role.ADMIN: Msg("quản trị viên", "administrator"),
}


class TransitionNotAllowed(Conflict):
    """409: the action does not apply to the item's current state."""

    slug = "transition-not-allowed"
    title = Msg("Không thể chuyển trạng thái", "Transition not allowed")


class EditNotAllowed(Conflict):
    """409: the item cannot be edited in its current state."""

    slug = "edit-not-allowed"
    title = Msg("Không thể sửa bài ở trạng thái này", "The item cannot be edited now")


class ActionForbidden(Forbidden):
    """403: the actor's role does not allow the action at this stage."""

    slug = "action-forbidden"
    title = Msg("Không có quyền thực hiện thao tác", "Action forbidden")


class TransitionInvalid(Unprocessable):
    """422: the action applies, but its inputs (comment, times) are wrong."""

    slug = "transition-invalid"
    title = Msg("Thông tin chuyển trạng thái không hợp lệ", "Invalid transition input")


@dataclass(frozen=True)
class Stage:
    """One review stage: `role` is the lowest role that may pass (or return) it."""

    key: str
    name: Msg
    role: Role


_STAGE_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Pipeline:
    """A portal's review stages, in order; the last one decides publication."""

    stages: tuple[Stage, ...]

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("a pipeline needs at least one stage")
        keys = [stage.key for stage in self.stages]
        if len(set(keys)) != len(keys):
            raise ValueError(f"stage keys must be unique: {keys}")
        for stage in self.stages:
            if not _STAGE_KEY.match(stage.key):
                raise ValueError(f"bad stage key {stage.key!r}: use [a-z0-9_]")
            # A contributor-level stage would let authors wave their own work through.
            if stage.role.rank < Role.EDITOR.rank:
                raise ValueError(f"stage {stage.key!r} needs role editor or higher")

    @property
    def last(self) -> Stage:
        return self.stages[-1]

    def to_config(self) -> list[dict[str, Any]]:
        """Return the JSON-ready form that `pipeline_from_config` reads back."""
        return [
            {"key": s.key, "name": {"vi": s.name.vi, "en": s.name.en}, "role": s.role.value}
            for s in self.stages
        ]


PROVINCIAL_PIPELINE = Pipeline(
    (
        Stage("editor_review", Msg("Biên tập viên duyệt", "Editor review"), Role.EDITOR),
        Stage("approver_decision", Msg("Lãnh đạo phê duyệt", "Approver decision"), Role.APPROVER),
    )
)
CENTRAL_PIPELINE = Pipeline(
    (
        Stage("editor_review", Msg("Biên tập viên duyệt", "Editor review"), Role.EDITOR),
        Stage("head_review", Msg("Trưởng đơn vị duyệt", "Head of unit review"), Role.HEAD),
        Stage("board_approval", Msg("Ban biên tập phê duyệt", "Board approval"), Role.APPROVER),
    )
)


def pipeline_from_config(stages: list[dict[str, Any]]) -> Pipeline:
    """Build a pipeline from portal settings, raising ValueError on anything malformed."""
    if not isinstance(stages, list) or not stages:
        raise ValueError("a pipeline needs a non-empty list of stages")
    parsed = []
    for raw in stages:
        if not isinstance(raw, dict) or set(raw) != {"key", "name", "role"}:
            raise ValueError(f"a stage needs exactly key, name and role: {raw!r}")
        name = raw["name"]
        if not (isinstance(name, dict) and set(name) == {"vi", "en"}) or not all(
            isinstance(v, str) and v.strip() for v in name.values()
        ):
            raise ValueError(f"stage name must be {{'vi': str, 'en': str}}: {name!r}")
        if not isinstance(raw["key"], str) or raw["role"] not in [r.value for r in Role]:
            raise ValueError(f"bad stage key or role: {raw!r}")
        parsed.append(Stage(raw["key"], Msg(name["vi"], name["en"]), Role(raw["role"])))
    return Pipeline(tuple(parsed))


@dataclass(frozen=True)
class ItemState:
    """The workflow facts about one item; `stage` indexes the pipeline while in review."""

    status: Status
    stage: int | None
    is_live: bool
    author_id: str

    def __post_init__(self) -> None:
        if (self.stage is not None) != (self.status is Status.IN_REVIEW) or (self.stage or 0) < 0:
            raise ValueError("stage is an index >= 0, set exactly when the status is in_review")
        if self.status is Status.PUBLISHED and not self.is_live:
            raise ValueError("a published item is live")
        if self.status in {Status.UNPUBLISHED, Status.ARCHIVED} and self.is_live:
            raise ValueError(f"a {self.status} item is not live")


@dataclass(frozen=True)
class Actor:
    """Who asks: `role` in this portal (None if not a member), or the scheduler."""

    user_id: str
    role: Role | None
    is_superadmin: bool = False
    is_system: bool = False


@dataclass(frozen=True)
class TransitionRequest:
    """One requested transition; all datetimes are timezone-aware."""

    action: Action
    now: datetime
    comment: str | None = None
    publish_at: datetime | None = None
    unpublish_at: datetime | None = None

    def __post_init__(self) -> None:
        # Naive times cannot be compared with aware ones; API schemas use AwareDatetime.
        for when in (self.now, self.publish_at, self.unpublish_at):
            if when is not None and when.tzinfo is None:
                raise ValueError("transition times must be timezone-aware")


@dataclass(frozen=True)
class Outcome:
    """Where a transition leads; `goes_live`/`takes_down` tell the service what to swap."""

    status: Status
    stage: int | None
    is_live: bool
    publish_at: datetime | None
    unpublish_at: datetime | None
    goes_live: bool
    takes_down: bool


def _stage(state: ItemState, pipeline: Pipeline) -> int:
    # The portal may have shortened its pipeline while the item sat in a later stage.
    return min(state.stage or 0, len(pipeline.stages) - 1)


def _at_last_stage(state: ItemState, pipeline: Pipeline) -> bool:
    return state.status is Status.IN_REVIEW and _stage(state, pipeline) == len(pipeline.stages) - 1


class _Who(Enum):
    AUTHOR_OR_EDITOR = "author or editor"
    CURRENT_STAGE = "current stage"
    LAST_STAGE = "last stage"


@dataclass(frozen=True)
class _Rule:
    allowed_from: Callable[[ItemState, Pipeline], bool]
    who: _Who
    system_may: Callable[[ItemState], bool] = lambda state: False


# For each action: the states it applies to, whose role it needs, and whether the scheduler
# (which has no role) may run it.
_RULES: dict[Action, _Rule] = {
    # An item taken down may go back into review as it is (a takedown made in error).
    Action.SUBMIT: _Rule(
        lambda s, p: s.status in {Status.DRAFT, Status.RETURNED, Status.UNPUBLISHED},
        _Who.AUTHOR_OR_EDITOR,
    ),
    Action.FORWARD: _Rule(
        lambda s, p: s.status is Status.IN_REVIEW and not _at_last_stage(s, p),
        _Who.CURRENT_STAGE,
    ),
    Action.RETURN_: _Rule(lambda s, p: s.status is Status.IN_REVIEW, _Who.CURRENT_STAGE),
    Action.PUBLISH: _Rule(
        lambda s, p: _at_last_stage(s, p) or s.status is Status.SCHEDULED,
        _Who.LAST_STAGE,
        system_may=lambda s: s.status is Status.SCHEDULED,
    ),
    Action.SCHEDULE: _Rule(
        lambda s, p: _at_last_stage(s, p) or s.status is Status.SCHEDULED, _Who.LAST_STAGE
    ),
    Action.UNPUBLISH: _Rule(lambda s, p: s.is_live, _Who.LAST_STAGE, system_may=lambda s: True),
    Action.ARCHIVE: _Rule(
        lambda s, p: (
            not s.is_live and s.status in {Status.DRAFT, Status.RETURNED, Status.UNPUBLISHED}
        ),
        _Who.LAST_STAGE,
    ),
}


def _describe(state: ItemState, pipeline: Pipeline) -> Msg:
    status = STATUS_NAMES[state.status]
    if state.status is not Status.IN_REVIEW:
        return status
    stage = pipeline.stages[_stage(state, pipeline)].name
    return Msg(f"{status.vi} ({stage.vi})", f"{status.en} ({stage.en})")


def _state_error(action: Action, state: ItemState, pipeline: Pipeline) -> TransitionNotAllowed:
    verb, where = ACTION_NAMES[action], _describe(state, pipeline)
    return TransitionNotAllowed(
        Msg(
            f"Không thể {verb.vi} khi bài đang ở trạng thái “{where.vi}”.",
            f"Cannot {verb.en} an item that is {where.en}.",
        )
    )


_NOT_MEMBER = Msg("Bạn không phải thành viên của cổng này.", "You are not a member of this portal.")


def _needs(role: Role, verb: Msg) -> ActionForbidden:
    name = ROLE_NAMES[role]
    return ActionForbidden(
        Msg(
            f"Cần vai trò {name.vi} trở lên để {verb.vi}.",
            f"Only a {name.en} or higher may {verb.en}.",
        )
    )


def _rank(actor: Actor) -> int | None:
    if actor.is_superadmin:
        return Role.ADMIN.rank
    return None if actor.is_system or actor.role is None else actor.role.rank


def _role_error(
    action: Action, state: ItemState, actor: Actor, pipeline: Pipeline
) -> ActionForbidden | None:
    rule, verb = _RULES[action], ACTION_NAMES[action]
    if actor.is_system and not actor.is_superadmin:
        if rule.system_may(state):
            return None
        return ActionForbidden(
            Msg(
                f"Bộ lập lịch không được {verb.vi} ở trạng thái này.",
                f"The scheduler may not {verb.en} here.",
            )
        )
    if (rank := _rank(actor)) is None:
        return ActionForbidden(_NOT_MEMBER)
    if rule.who is _Who.AUTHOR_OR_EDITOR:
        needed = Role.CONTRIBUTOR if actor.user_id == state.author_id else Role.EDITOR
    elif rule.who is _Who.CURRENT_STAGE:
        needed = pipeline.stages[_stage(state, pipeline)].role
    else:
        needed = pipeline.last.role
    return None if rank >= needed.rank else _needs(needed, verb)


def _input_errors(request: TransitionRequest) -> list[FieldError]:
    action, now, publish_at = request.action, request.now, request.publish_at
    errors: list[FieldError] = []
    if action in {Action.RETURN_, Action.UNPUBLISH} and not (request.comment or "").strip():
        msg = Msg("Cần ghi rõ lý do.", "A comment giving the reason is required.")
        errors.append(FieldError("comment", msg, "required"))
    if action is Action.SCHEDULE and (publish_at is None or publish_at <= now):
        msg = Msg("Thời điểm xuất bản phải ở tương lai.", "The publication time must be ahead.")
        errors.append(FieldError("publish_at", msg, "required" if publish_at is None else "past"))
    if action in {Action.PUBLISH, Action.SCHEDULE} and request.unpublish_at is not None:
        floor = max(now, publish_at) if action is Action.SCHEDULE and publish_at else now
        if request.unpublish_at <= floor:
            msg = Msg(
                "Thời điểm gỡ bài phải ở tương lai và sau thời điểm xuất bản.",
                "The unpublish time must be ahead and after the publication time.",
            )
            errors.append(FieldError("unpublish_at", msg, "past"))
    return errors


def decide(
    state: ItemState, actor: Actor, pipeline: Pipeline, request: TransitionRequest
) -> Outcome:
    """Check one transition (state, then role, then inputs) and return where it leads."""
    action = request.action
    if state.status is Status.ARCHIVED or not _RULES[action].allowed_from(state, pipeline):
        raise _state_error(action, state, pipeline)
    if (forbidden := _role_error(action, state, actor, pipeline)) is not None:
        raise forbidden
    if errors := _input_errors(request):
        raise TransitionInvalid(
            Msg("Thông tin gửi kèm chưa hợp lệ.", "Some inputs are invalid."), errors=errors
        )
    now, live = request.now, state.is_live
    match action:
        case Action.SUBMIT:
            return Outcome(Status.IN_REVIEW, 0, live, None, None, False, False)
        case Action.FORWARD:
            stage = _stage(state, pipeline) + 1
            return Outcome(Status.IN_REVIEW, stage, live, None, None, False, False)
        case Action.RETURN_:
            return Outcome(Status.RETURNED, None, live, None, None, False, False)
        case Action.PUBLISH:
            return Outcome(Status.PUBLISHED, None, True, now, request.unpublish_at, True, False)
        case Action.SCHEDULE:
            publish_at, unpublish_at = request.publish_at, request.unpublish_at
            return Outcome(Status.SCHEDULED, None, live, publish_at, unpublish_at, False, False)
        case Action.UNPUBLISH:
            return Outcome(Status.UNPUBLISHED, None, False, None, None, False, True)
        case Action.ARCHIVE:
            return Outcome(Status.ARCHIVED, None, False, None, None, False, False)


def allowed_actions(state: ItemState, actor: Actor, pipeline: Pipeline) -> list[Action]:
    """Return the actions `decide` would accept from this state for this actor, inputs aside."""
    if state.status is Status.ARCHIVED:
        return []
    return [
        action
        for action, rule in _RULES.items()
        if rule.allowed_from(state, pipeline)
        and _role_error(action, state, actor, pipeline) is None
    ]


def can_edit(state: ItemState, actor: Actor, pipeline: Pipeline) -> Status:
    """Check that the actor may edit the item now and return its status after the edit."""
    if state.status is Status.ARCHIVED:
        raise EditNotAllowed(Msg("Bài đã lưu trữ, không thể sửa.", "Archived items are final."))
    if (rank := _rank(actor)) is None:
        raise ActionForbidden(_NOT_MEMBER)
    is_author = actor.user_id == state.author_id
    match state.status:
        case Status.IN_REVIEW:
            needed, after = pipeline.stages[_stage(state, pipeline)].role, Status.IN_REVIEW
        case Status.SCHEDULED:
            needed, after = pipeline.last.role, Status.DRAFT
        case Status.DRAFT | Status.RETURNED:
            needed, after = Role.CONTRIBUTOR if is_author else Role.EDITOR, state.status
        case _:  # published or unpublished: a new revision starts while the live one stays
            needed, after = Role.CONTRIBUTOR if is_author else Role.EDITOR, Status.DRAFT
    if rank < needed.rank:
        raise _needs(needed, Msg("sửa bài lúc này", "edit the item now"))
    return after
