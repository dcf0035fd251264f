"""The colour a project shows in lists (DOMAIN.md §9): red while overdue, else the worst of its archives."""

from __future__ import annotations

import pytest

from domain.colours import SEVERITY, project_colour


def test_severity_ranks_green_blue_yellow_red() -> None:
    assert sorted(SEVERITY, key=SEVERITY.__getitem__) == ["green", "blue", "yellow", "red"]


def test_a_project_without_an_archive_colour_is_blue() -> None:
    assert project_colour(overdue=False, archives=[]) == "blue"
    assert project_colour(overdue=False, archives=[""]) == "blue"  # construction not begun


@pytest.mark.parametrize("colour", ["green", "blue", "yellow", "red"])
def test_the_list_shows_the_construction_archive_colour(colour: str) -> None:
    assert project_colour(overdue=False, archives=[colour]) == colour


@pytest.mark.parametrize("colour", ["", "green", "blue", "yellow", "red"])
def test_an_overdue_review_is_red_whatever_the_archives_say(colour: str) -> None:
    assert project_colour(overdue=True, archives=[colour]) == "red"


def test_the_worst_archive_wins() -> None:
    assert project_colour(overdue=False, archives=["green", "yellow", "blue"]) == "yellow"
    assert project_colour(overdue=False, archives=["green", "blue"]) == "blue"
    assert project_colour(overdue=False, archives=["green", "green"]) == "green"
