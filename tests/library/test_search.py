"""Full-text search: FTS5 on SQLite, tsvector on PostgreSQL (the scale half of the suite)."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from llmportal.portal import Portal
from tests.library.helpers import create_item, uploaded


async def _search(client: httpx.AsyncClient, query: str) -> list[str]:
    r = await client.get("/api/stuff", params={"search": query})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(body["items"])
    return [i["title"] for i in body["items"]]


async def test_search_matches_title_description_tags_and_content(
    user_client: httpx.AsyncClient,
) -> None:
    await create_item(user_client, title="Sunset over the harbour")
    await create_item(user_client, title="Shopping list", description="weekly groceries")
    await create_item(user_client, title="Trip ideas", tags=["mountains", "hiking"])
    await create_item(user_client, title="Snippet", type="CODE", content="def fibonacci(n): pass")
    assert await _search(user_client, "harbour") == ["Sunset over the harbour"]
    assert await _search(user_client, "groceries") == ["Shopping list"]
    assert await _search(user_client, "hiking") == ["Trip ideas"]
    assert await _search(user_client, "fibonacci") == ["Snippet"]
    assert await _search(user_client, "nonexistentword") == []


async def test_search_is_stemmed_prefix_and_all_words(user_client: httpx.AsyncClient) -> None:
    await create_item(user_client, title="Holiday photos", tags=["beach"])
    await create_item(user_client, title="Passport photo")
    assert sorted(await _search(user_client, "photo")) == ["Holiday photos", "Passport photo"]
    assert sorted(await _search(user_client, "PHOTOGRAPHS")) == []
    assert await _search(user_client, "phot beach") == ["Holiday photos"]
    assert await _search(user_client, "holi") == ["Holiday photos"]


async def test_search_ranks_title_matches_first(user_client: httpx.AsyncClient) -> None:
    await create_item(user_client, title="Meeting notes", content="we talked about the budget")
    await create_item(user_client, title="Budget 2025", content="numbers")
    await create_item(user_client, title="Misc", description="budget draft")
    titles = await _search(user_client, "budget")
    assert titles == ["Budget 2025", "Misc", "Meeting notes"]


async def test_search_with_explicit_sort_and_filters(user_client: httpx.AsyncClient) -> None:
    await create_item(user_client, title="zebra report", type="NOTE")
    await create_item(user_client, title="alpha report", type="CODE")
    await create_item(user_client, title="other", type="NOTE")
    r = await user_client.get("/api/stuff?search=report&sortBy=name_asc")
    assert [i["title"] for i in r.json()["items"]] == ["alpha report", "zebra report"]
    r = await user_client.get("/api/stuff?search=report&type=NOTE")
    assert [i["title"] for i in r.json()["items"]] == ["zebra report"]
    assert r.json()["total"] == 1


async def test_search_pagination_totals(user_client: httpx.AsyncClient) -> None:
    for i in range(5):
        await create_item(user_client, title=f"invoice {i}")
    await create_item(user_client, title="unrelated")
    r = await user_client.get("/api/stuff?search=invoice&limit=2&page=3")
    body = r.json()
    assert body["total"] == 5 and len(body["items"]) == 1


async def test_search_stays_in_sync_after_update_and_delete(
    user_client: httpx.AsyncClient,
) -> None:
    item = await create_item(user_client, title="Quarterly forecast", tags=["finance"])
    assert await _search(user_client, "forecast") == ["Quarterly forecast"]
    r = await user_client.patch(
        f"/api/stuff/{item['id']}", json={"title": "Annual plan", "tags": ["strategy"]}
    )
    assert r.status_code == 200
    assert await _search(user_client, "forecast") == []
    assert await _search(user_client, "finance") == []
    assert await _search(user_client, "annual") == ["Annual plan"]
    assert await _search(user_client, "strategy") == ["Annual plan"]
    await user_client.patch(f"/api/stuff/{item['id']}", json={"description": "with margins"})
    assert await _search(user_client, "margins") == ["Annual plan"]
    assert (await user_client.delete(f"/api/stuff/{item['id']}")).status_code == 200
    assert await _search(user_client, "annual") == []


_INDEX_HITS = {
    "sqlite": "SELECT count(*) FROM content_items_fts WHERE content_items_fts MATCH 'ephemeral'",
    "postgresql": "SELECT count(*) FROM content_items "
    "WHERE search_vector @@ to_tsquery('english', 'ephemeral')",
}


async def _index_hits(portal: Portal) -> int:
    async with portal.engine.connect() as conn:
        return int(await conn.scalar(text(_INDEX_HITS[conn.dialect.name])) or 0)


async def test_deleted_rows_leave_the_index(user_client: httpx.AsyncClient, portal: Portal) -> None:
    item = await create_item(user_client, title="ephemeral")
    assert await _index_hits(portal) == 1
    await user_client.delete(f"/api/stuff/{item['id']}")
    assert await _index_hits(portal) == 0


async def test_search_is_per_user(
    user_client: httpx.AsyncClient, other_user_client: httpx.AsyncClient
) -> None:
    await create_item(user_client, title="secret plans")
    assert await _search(other_user_client, "secret") == []
    assert await _search(user_client, "secret") == ["secret plans"]


async def test_search_input_is_not_query_syntax(user_client: httpx.AsyncClient) -> None:
    await create_item(user_client, title="C++ tips & tricks")
    for query in ['"', "tips*", "NEAR(tips", "tips:*", "tips & !tricks", "title:tips", "(", "'"]:
        r = await user_client.get("/api/stuff", params={"search": query})
        assert r.status_code == 200, (query, r.text)
    assert await _search(user_client, "tips & tricks") == ["C++ tips & tricks"]
    assert await _search(user_client, "!!!") == []


async def test_uploaded_text_is_searchable(user_client: httpx.AsyncClient) -> None:
    await uploaded(user_client, "notes.md", b"# Heading\n\nthe word xylophone appears here\n")
    assert await _search(user_client, "xylophone") == ["notes.md"]
