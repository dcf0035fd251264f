"""Three-colour archives (红绿蓝三色档案, DOMAIN.md §9): how colours rank, and the one colour a project shows."""

from __future__ import annotations

from collections.abc import Iterable

# green = complete and on track, blue = in progress, yellow = a warning, red = a problem
SEVERITY = {"green": 0, "blue": 1, "yellow": 2, "red": 3}


def project_colour(*, overdue: bool, archives: Iterable[str]) -> str:
    """The colour a project shows in lists: red while a review is overdue, else the worst colour of its archives
    (so a list never tells a different story than the archive a person opens); blue before any archive has one."""
    colours = [c for c in archives if c in SEVERITY]
    if overdue:
        colours.append("red")
    return max(colours, key=SEVERITY.__getitem__) if colours else "blue"
