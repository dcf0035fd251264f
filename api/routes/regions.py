"""The region tree (行政区划) under the caller's region, for every role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CurrentUser, SessionDep, region_filter
from api.edge import EdgeRoute, Offset
from api.people_schemas import REGION_PATTERN, RegionNode, RegionPublic, RegionsPublic
from db.repositories.regions import list_regions, list_regions_page
from domain.enums import RegionLevel

router = APIRouter(prefix="/regions", tags=["regions"], route_class=EdgeRoute)
RegionCode = Annotated[
    str | None, Query(pattern=REGION_PATTERN, description="区划代码（本辖区内）/ a region inside yours")
]


@router.get("", response_model=RegionsPublic)
async def list_(
    user: CurrentUser,
    session: SessionDep,
    parent: RegionCode = None,
    level: Annotated[RegionLevel | None, Query(description="层级 / level")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Offset = 0,
) -> RegionsPublic:
    """Your region and the regions beneath it; `parent` gives one region's direct children (区划列表)."""
    if parent is not None:
        await region_filter(session, user, "parent", parent)
    rows, total = await list_regions_page(
        session,
        within_code=user.region_code,
        within_level=user.region_level,
        parent_code=parent,
        level=level,
        limit=limit,
        offset=offset,
    )
    items = [
        RegionPublic(code=r.code, name=r.name, level=RegionLevel(r.level), parent_code=r.parent_code) for r in rows
    ]
    return RegionsPublic(items=items, count=total, limit=limit, offset=offset)


@router.get("/tree", response_model=RegionNode)
async def tree(
    user: CurrentUser,
    session: SessionDep,
    root: RegionCode = None,
    depth: Annotated[int, Query(ge=0, le=4, description="向下展开的层数 / levels beneath the root")] = 4,
) -> RegionNode:
    """The tree under your region, or under `root` inside it (区划树)."""
    top = await region_filter(session, user, "root", root or user.region_code)
    rows = await list_regions(session, within_code=top.code, within_level=RegionLevel(top.level))
    nodes = {r.code: RegionNode(code=r.code, name=r.name, level=RegionLevel(r.level)) for r in rows}
    nodes.setdefault(top.code, RegionNode(code=top.code, name=top.name, level=RegionLevel(top.level)))
    depths = {top.code: 0}
    for r in rows:  # by code: a parent's code sorts before its children's
        if r.code == top.code or r.parent_code not in depths:
            continue
        depths[r.code] = depths[r.parent_code] + 1
        if depths[r.code] <= depth:
            nodes[r.parent_code].children.append(nodes[r.code])
    return nodes[top.code]
