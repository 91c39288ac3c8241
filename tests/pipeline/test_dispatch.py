"""The dispatch table stays whole: every routing action has exactly one handler (issue 8
item 9), except R1's duplicate, which `accept` answers before anything is written."""

from __future__ import annotations

from maildesk.pipeline.dispatch import HANDLERS
from maildesk.pipeline.route import Action


def test_handlers_cover_every_action_but_duplicate() -> None:
    assert set(HANDLERS) == set(Action) - {Action.DUPLICATE}
