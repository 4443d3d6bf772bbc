"""The project list: one read for all concurrent askers, renewed ahead of its bound, never older than it.

Every 5 s all requests in flight used to find the list too old and read it each on their own (the gateway
benchmark's p99 tripled); these tests pin the shared read and the background renewal, and that the revocation
bound (`REFRESH_SECONDS`), unknown names and invalidation still force a fresh read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from mlplatform.kernel.db import Database
from mlplatform.modules.gateway.access.projects_cache import REFRESH_SECONDS, RENEW_AFTER_SECONDS, ProjectCache
from tests.support.clock import FakeClock


class Rows(list[str]):
    def all(self) -> list[str]:
        return list(self)


class FakeProjects:
    """Stands in for the database: counts reads, and holds each one until the test releases it."""

    def __init__(self, *names: str) -> None:
        self.names = set(names)
        self.reads = 0
        self.release = asyncio.Event()
        self.release.set()

    def sessionmaker(self) -> Any:
        outer = self

        class Session:
            async def scalars(self, _: object) -> Rows:
                outer.reads += 1
                seen = sorted(outer.names)  # what the database holds when the read runs
                await outer.release.wait()
                return Rows(seen)

        @asynccontextmanager
        async def session() -> AsyncIterator[Session]:
            yield Session()

        return session()


def cache(projects: FakeProjects, clock: FakeClock) -> ProjectCache:
    return ProjectCache(cast(Database, projects), clock=clock)


async def test_concurrent_askers_share_one_read() -> None:
    projects, clock = FakeProjects("p1"), FakeClock()
    directory = cache(projects, clock)
    projects.release.clear()
    asking = [asyncio.ensure_future(directory.exists("p1")) for _ in range(16)]
    await asyncio.sleep(0)
    projects.release.set()
    assert await asyncio.gather(*asking) == [True] * 16
    assert projects.reads == 1


async def test_a_busy_list_is_renewed_in_the_background_and_nobody_waits() -> None:
    projects, clock = FakeProjects("p1"), FakeClock()
    directory = cache(projects, clock)
    assert await directory.exists("p1")
    projects.names.discard("p1")  # deleted through another replica; nobody told this one
    clock.advance(RENEW_AFTER_SECONDS + 0.1)
    projects.release.clear()  # the renewal is held: answers within the bound must not wait for it
    assert await asyncio.wait_for(directory.exists("p1"), timeout=1)
    assert await asyncio.wait_for(directory.exists("p1"), timeout=1)
    await asyncio.sleep(0)
    assert projects.reads == 2  # one renewal for both
    projects.release.set()
    for _ in range(3):
        await asyncio.sleep(0)
    assert not await directory.exists("p1")  # the renewal's answer is in use


async def test_a_list_older_than_the_bound_is_read_again_before_answering() -> None:
    projects, clock = FakeProjects("p1"), FakeClock()
    directory = cache(projects, clock)
    assert await directory.exists("p1")
    projects.names.discard("p1")  # deleted through another replica; nobody told this one
    clock.advance(REFRESH_SECONDS + 0.1)
    assert not await directory.exists("p1")
    assert projects.reads == 2


async def test_an_unknown_name_waits_for_a_read_that_began_after_it_asked() -> None:
    projects, clock = FakeProjects("p1"), FakeClock()
    directory = cache(projects, clock)
    projects.release.clear()
    first = asyncio.ensure_future(directory.exists("p1"))
    await asyncio.sleep(0)  # a read is in flight, begun before p2 was created
    projects.names.add("p2")
    clock.advance(0.01)
    second = asyncio.ensure_future(directory.exists("p2"))
    await asyncio.sleep(0)
    projects.release.set()
    assert await first
    assert await second
    assert projects.reads == 2


async def test_invalidation_makes_the_next_answer_read_again() -> None:
    projects, clock = FakeProjects("p1"), FakeClock()
    directory = cache(projects, clock)
    assert await directory.exists("p1")
    projects.names.discard("p1")
    directory.invalidate()
    assert not await directory.exists("p1")
    assert projects.reads == 2
