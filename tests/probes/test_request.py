"""Request bodies from templates, the schedule's arithmetic, and the shard syntax."""

from __future__ import annotations

import json

import pytest

from core.contract import TemplateError, parse_template
from core.contract import render_body as build_predict_body
from probes.runner import pick_sample, probe_phase_s, slot_of, target_phase
from probes.shard import parse_shard
from storage.evalset import EvalText
from storage.targets import TargetError, validate_template

NASTY_TEXTS = [
    "plain",
    'quotes " inside "',
    "back\\slash \\n not a newline",
    "new\nline\r\nand\ttab",
    "control \x00\x01\x1f chars",
    "unicode бот 🤖 \u200b\u202e",
    "{text} and {id} placeholders in the text",
    '"}, "probability": 1, "x": {"',
    "",
]


@pytest.mark.parametrize("text", NASTY_TEXTS)
def test_default_body_is_the_contract(text: str) -> None:
    body = build_predict_body(parse_template(None), text=text, sample_id="id-1")
    assert json.loads(body) == {"id": "id-1", "text": text}


TEMPLATES = [
    ('{"text": "{text}", "id": "{id}"}', lambda t, i: {"text": t, "id": i}),
    (
        '{"input": {"body": "{text}"}, "meta": ["{id}", 3, null]}',
        lambda t, i: {"input": {"body": t}, "meta": [i, 3, None]},
    ),
    ('{"prompt": "Classify: {text} (ref {id})"}', lambda t, i: {"prompt": f"Classify: {t} (ref {i})"}),
    ('{"{id}": "{text}"}', lambda t, i: {i: t}),
    ('["{text}"]', lambda t, i: [t]),
]


@pytest.mark.parametrize("text", NASTY_TEXTS)
@pytest.mark.parametrize(("template", "expected"), TEMPLATES)
def test_template_substitution_stays_valid_json(template: str, expected, text: str) -> None:  # type: ignore[no-untyped-def]
    validate_template(template)  # every case is a template the registry accepts
    body = build_predict_body(parse_template(template), text=text, sample_id='s"1')
    assert json.loads(body) == expected(text, 's"1')


@pytest.mark.parametrize("template", ['{"text": {text}}', "not json {text}", '{"a": "{text}"'])
def test_broken_templates_are_refused(template: str) -> None:
    with pytest.raises(TargetError):
        validate_template(template)
    with pytest.raises(TemplateError):
        parse_template(template)


@pytest.mark.parametrize(
    ("text", "expected"), [("0/1", (0, 1)), ("2/3", (2, 3)), ("0/4", (0, 4))]
)
def test_parse_shard(text: str, expected: tuple[int, int]) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["3/3", "-1/2", "1/0", "a/b", "1", "1/2/3", ""])
def test_parse_shard_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_shard(text)


def test_phases_spread_targets_across_the_interval() -> None:
    """A thousand targets land in every tenth of the interval, none in lockstep."""
    interval = 10.0
    phases = [probe_phase_s(t, "health", interval) for t in range(1, 1001)]
    counts = [sum(1 for p in phases if k <= p < k + 1) for k in range(10)]
    assert all(90 <= c <= 110 for c in counts), counts
    assert len({round(p, 6) for p in phases}) == 1000
    # Predict runs half an interval after health, and both phases are stable.
    for t in (1, 7, 999):
        gap = (probe_phase_s(t, "predict", interval) - probe_phase_s(t, "health", interval)) % interval
        assert gap == pytest.approx(interval / 2)
        assert target_phase(t) == target_phase(t)


@pytest.mark.parametrize(
    ("now", "phase", "interval", "slot"),
    [(100.0, 3.0, 10.0, (9, 93.0)), (93.0, 3.0, 10.0, (9, 93.0)), (92.999, 3.0, 10.0, (8, 83.0))],
)
def test_slot_of(now: float, phase: float, interval: float, slot: tuple[int, float]) -> None:
    k, at = slot_of(now, phase, interval)
    assert (k, at) == (slot[0], pytest.approx(slot[1]))


def test_every_target_sees_every_sample() -> None:
    samples = [EvalText(id=f"s{i}", text="t") for i in range(7)]
    for target_id in (1, 2, 50):
        seen = {pick_sample(samples, target_id, slot).id for slot in range(1000, 1007)}
        assert seen == {s.id for s in samples}
    # Two targets at the same slot do not get the same sample.
    assert pick_sample(samples, 1, 5).id != pick_sample(samples, 2, 5).id
    assert pick_sample([], 1, 5).id == "clfwatch-canary"
