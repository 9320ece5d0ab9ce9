"""The Lab extension stays out of Voila's pages (they load every installed Lab extension;
tests/browser/test_live_chart.py's Voila test sees no console error from it), without
dropping what a user denied themselves."""

from __future__ import annotations

from traitlets.config import Config

from alphapulse.server.app import LAB_EXTENSION, hide_lab_extension_from_voila


def test_the_lab_extension_is_denied_to_voila() -> None:
    config = Config()
    hide_lab_extension_from_voila(config)
    assert config.VoilaConfiguration.extension_denylist == [LAB_EXTENSION]


def test_a_users_own_denylist_is_kept_and_the_extension_added_once() -> None:
    config = Config()
    config.VoilaConfiguration.extension_denylist = ["@someone/else"]
    hide_lab_extension_from_voila(config)
    hide_lab_extension_from_voila(config)
    assert config.VoilaConfiguration.extension_denylist == ["@someone/else", LAB_EXTENSION]
