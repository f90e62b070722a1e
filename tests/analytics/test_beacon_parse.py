"""The beacon's fast parser agrees with the pydantic model on every body it accepts."""

from __future__ import annotations

import dataclasses
import json

import pytest
from pydantic import ValidationError

from services.analytics.beacon import Beacon, parse_beacon, quick_beacon

PAGE = {"portal": "phu-yen", "url": "https://bhxh.gov.vn/tin-tuc/bai-1?x=1#top"}

PLAIN = [
    PAGE,
    {**PAGE, "referrer": "https://www.google.com/search?q=bhxh"},
    {**PAGE, "referrer": ""},
    {**PAGE, "referrer": None},
    {**PAGE, "type": "event", "name": "Tải biểu mẫu"},
    {**PAGE, "screen_width": 0},
    {**PAGE, "screen_width": 20_000},
    {**PAGE, "id": "a1b2.c3:d4_e-5", "article": "bai-1", "category": "tin-tuc"},
    {**PAGE, "webdriver": True},
    {**PAGE, "url": "http://bhxh.gov.vn/" + "a" * 2000},
]

UNUSUAL = [
    {**PAGE, "portal": " phu-yen "},  # stripped by the model
    {**PAGE, "url": " https://bhxh.gov.vn/ "},
    {**PAGE, "referrer": "  "},
    {**PAGE, "screen_width": "1024"},  # lax coercion
    {**PAGE, "webdriver": 1},
    {**PAGE, "name": "  tên  "},
    {**PAGE, "name": "x\u00a0"},
    {**PAGE, "portal": "phu-yen\n"},
    {**PAGE, "screen_width": True},
    {**PAGE, "webdriver": "yes"},
]

INVALID = [
    {},
    [],
    "phu-yen",
    {"portal": "phu-yen"},
    {**PAGE, "portal": "Phu-Yen"},
    {**PAGE, "portal": "a" * 65},
    {**PAGE, "url": "/relative"},
    {**PAGE, "url": "ftp://bhxh.gov.vn/"},
    {**PAGE, "url": "https://bhxh.gov.vn/a b"},
    {**PAGE, "url": "https://bhxh.gov.vn/" + "a" * 2048},
    {**PAGE, "referrer": "javascript:alert(1)"},
    {**PAGE, "type": "click"},
    {**PAGE, "type": None},
    {**PAGE, "type": "event"},
    {**PAGE, "type": "event", "name": ""},
    {**PAGE, "name": "x" * 101},
    {**PAGE, "screen_width": -1},
    {**PAGE, "screen_width": 20_001},
    {**PAGE, "screen_width": 1.5},
    {**PAGE, "id": "có dấu"},
    {**PAGE, "article": ""},
    {**PAGE, "category": "x" * 65},
    {**PAGE, "extra": 1},
]


def _encode(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


@pytest.mark.parametrize("body", PLAIN, ids=range(len(PLAIN)))
def test_plain_beacons_take_the_fast_path_with_the_models_result(body):
    fast = quick_beacon(_encode(body))
    assert fast is not None
    assert dataclasses.asdict(fast) == Beacon.model_validate_json(_encode(body)).model_dump()


@pytest.mark.parametrize("body", UNUSUAL, ids=range(len(UNUSUAL)))
def test_unusual_beacons_are_left_to_the_model(body):
    assert quick_beacon(_encode(body)) is None
    try:
        expected = Beacon.model_validate_json(_encode(body)).model_dump()
    except ValidationError:
        with pytest.raises(ValidationError):
            parse_beacon(_encode(body))
    else:
        parsed = parse_beacon(_encode(body))
        assert isinstance(parsed, Beacon)
        assert parsed.model_dump() == expected


@pytest.mark.parametrize("body", INVALID, ids=range(len(INVALID)))
def test_invalid_beacons_get_the_models_errors(body):
    assert quick_beacon(_encode(body)) is None
    with pytest.raises(ValidationError) as fast:
        parse_beacon(_encode(body))
    with pytest.raises(ValidationError) as model:
        Beacon.model_validate_json(_encode(body))
    plain = {"include_url": False, "include_context": False}
    assert fast.value.errors(**plain) == model.value.errors(**plain)


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b'{"portal": "phu-yen", "url": "https://bhxh.gov.vn/\\ud800"}',  # lone surrogate
        '{"portal": "phu-yen", "url": "https://bhxh.gov.vn/"}'.encode("utf-16"),
        b'{"portal": "phu-yen", "url": "https://bhxh.gov.vn/\xff"}',  # not UTF-8
        b'{"portal": "phu-yen", "url": "https://bhxh.gov.vn/", "screen_width": NaN}',
    ],
)
def test_odd_bytes_are_left_to_the_model(raw):
    assert quick_beacon(raw) is None
