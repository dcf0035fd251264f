"""The region tree through the API: every role reads the regions under its own, never beside or above."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Login, World

REGIONS = "/api/v1/regions"


@pytest.mark.parametrize("role", ["pm", "township", "county", "city", "expert", "finance", "supervisor", "admin"])
async def test_every_role_reads_the_regions_under_its_own(
    api: httpx.AsyncClient, world: World, login: Login, role: str
) -> None:
    user = world.users[role]
    r = await api.get(REGIONS, params={"limit": 1000}, headers=await login(user))
    assert r.status_code == 200, r.text
    codes = [i["code"] for i in r.json()["items"]]
    assert codes[0] == user.region_code
    prefix = world.city[:4] if user.region_code == world.city else user.region_code
    assert all(c.startswith(prefix) for c in codes)
    expected = {user.region_code} | {v for v in world.villages if v.startswith(prefix)}
    assert expected <= set(codes)
    assert r.json()["count"] == len(codes)


async def test_parent_and_level_filters_page_and_refuse_outside(
    api: httpx.AsyncClient, world: World, login: Login
) -> None:
    county = await login(world.users["county"])
    children = (await api.get(REGIONS, params={"parent": world.county}, headers=county)).json()
    assert [i["code"] for i in children["items"]] == world.townships
    assert {i["parent_code"] for i in children["items"]} == {world.county}
    villages = (await api.get(REGIONS, params={"level": "village"}, headers=county)).json()
    assert [i["code"] for i in villages["items"]] == sorted(world.villages)
    page = (await api.get(REGIONS, params={"level": "village", "limit": 1, "offset": 1}, headers=county)).json()
    assert ([i["code"] for i in page["items"]], page["count"]) == ([sorted(world.villages)[1]], 3)

    pm = await login(world.users["pm"])  # a township's project manager
    beside = await api.get(REGIONS, params={"parent": world.townships[1]}, headers=pm)
    assert (beside.status_code, beside.json()["code"]) == (403, "region_forbidden")
    above = await api.get(f"{REGIONS}/tree", params={"root": world.county}, headers=pm)
    assert (above.status_code, above.json()["code"]) == (403, "region_forbidden")
    unknown = await api.get(REGIONS, params={"parent": world.county + "999"}, headers=county)
    assert (unknown.status_code, unknown.json()["details"][0]["rule"]) == (422, "exists")
    for bad in ({"parent": "12ab"}, {"level": "planet"}, {"limit": 0}, {"colour": "red"}):
        r = await api.get(REGIONS, params=bad, headers=county)
        assert r.status_code == 422, bad
    assert (await api.get(REGIONS)).status_code == 401


async def test_the_tree_nests_townships_and_villages(api: httpx.AsyncClient, world: World, login: Login) -> None:
    county = await login(world.users["county"])
    r = await api.get(f"{REGIONS}/tree", headers=county)
    assert r.status_code == 200, r.text
    tree = r.json()
    assert (tree["code"], tree["level"]) == (world.county, "county")
    assert [t["code"] for t in tree["children"]] == world.townships
    first = tree["children"][0]
    assert [v["code"] for v in first["children"]] == [v for v in world.villages if v.startswith(world.townships[0])]
    assert all(v["children"] == [] for v in first["children"])
    shallow = (await api.get(f"{REGIONS}/tree", params={"depth": 1}, headers=county)).json()
    assert [t["children"] for t in shallow["children"]] == [[], []]
    rooted = (await api.get(f"{REGIONS}/tree", params={"root": world.townships[1]}, headers=county)).json()
    assert (rooted["code"], [v["code"] for v in rooted["children"]]) == (world.townships[1], [world.villages[2]])
    city = (await api.get(f"{REGIONS}/tree", headers=await login(world.users["city"]))).json()
    assert [c["code"] for c in city["children"]] == [world.county]
