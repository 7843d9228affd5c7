"""The dev cluster's request log, read over HTTP at /_devcluster/requests and in process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from kubernetes_asyncio import client

from service.devcluster import DevCluster
from service.devcluster.requestlog import LoggedRequest, RequestLog

LOG = "/_devcluster/requests"


@pytest_asyncio.fixture(scope="module")
async def cluster() -> AsyncIterator[DevCluster]:
    dev = DevCluster()
    await dev.start()
    yield dev
    await dev.stop()


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def read_log(http: aiohttp.ClientSession, url: str, query: str = "") -> dict[str, Any]:
    async with http.get(f"{url}{LOG}{query}") as resp:
        assert resp.status == 200 and resp.content_type == "application/json"
        body: dict[str, Any] = await resp.json()
        return body


async def mark(http: aiohttp.ClientSession, url: str) -> int:
    """The index the next logged request will get: a test's own requests start there."""
    nxt: int = (await read_log(http, url, "?since=999999999"))["next"]
    return nxt


async def test_every_request_is_logged_in_order_with_its_raw_path(
    cluster: DevCluster, http: aiohttp.ClientSession
) -> None:
    url = cluster.url
    start = await mark(http, url)
    sent = [
        ("GET", "/api/v1/namespaces/default/configmaps?limit=2&labelSelector=app%3Dweb"),
        ("POST", "/api/v1/namespaces/default/configmaps"),
        ("PATCH", "/api/v1/namespaces/default/configmaps/logged?fieldManager=x"),
        ("DELETE", "/api/v1/namespaces/default/configmaps/logged"),
        ("GET", "/apis/ray.io/v1/widgets"),  # unknown paths and failed requests are logged too
        ("PUT", "/version"),
        ("GET", "/healthz"),
    ]
    bodies: dict[str, Any] = {"POST": {"metadata": {"name": "logged"}}, "PATCH": {"data": {"k": "v"}}}
    headers = {"Content-Type": "application/merge-patch+json"}
    for method, path in sent:
        async with http.request(method, url + path, json=bodies.get(method), headers=headers) as resp:
            await resp.read()

    log = await read_log(http, url, f"?since={start}")
    assert log == {
        "requests": [
            {"index": start + i, "method": method, "path": path} for i, (method, path) in enumerate(sent)
        ],
        "next": start + len(sent),
    }


async def test_reading_the_log_is_not_logged(cluster: DevCluster, http: aiohttp.ClientSession) -> None:
    start = await mark(http, cluster.url)
    for query in ("", "?since=0", f"?since={start}"):
        await read_log(http, cluster.url, query)
    async with http.get(f"{cluster.url}/_devcluster/nothing-here") as resp:
        assert resp.status == 404
    log = await read_log(http, cluster.url, f"?since={start}")
    assert log == {"requests": [], "next": start}


async def test_since_selects_entries_from_that_index_on(
    cluster: DevCluster, http: aiohttp.ClientSession
) -> None:
    start = await mark(http, cluster.url)
    for probe in ("healthz", "readyz", "livez"):
        async with http.get(f"{cluster.url}/{probe}") as resp:
            assert resp.status == 200

    def paths(log: dict[str, Any]) -> list[str]:
        return [entry["path"] for entry in log["requests"]]

    assert paths(await read_log(http, cluster.url, f"?since={start + 1}")) == ["/readyz", "/livez"]
    assert paths(await read_log(http, cluster.url, f"?since={start + 3}")) == []
    assert paths(await read_log(http, cluster.url, f"?since={start + 100}")) == []
    everything = await read_log(http, cluster.url)  # no since: from the oldest entry kept
    assert paths(everything)[-3:] == ["/healthz", "/readyz", "/livez"]
    assert everything == await read_log(http, cluster.url, "?since=-5")
    indexes = [entry["index"] for entry in everything["requests"]]
    assert indexes == list(range(indexes[0], everything["next"]))


async def test_control_endpoint_errors_are_kubernetes_statuses(
    cluster: DevCluster, http: aiohttp.ClientSession
) -> None:
    start = await mark(http, cluster.url)
    cases = [
        ("GET", f"{LOG}?since=abc", 400, "BadRequest"),
        ("POST", LOG, 405, "MethodNotAllowed"),
        ("DELETE", LOG, 405, "MethodNotAllowed"),
        ("GET", "/_devcluster", 404, "NotFound"),
        ("GET", f"{LOG}/extra", 404, "NotFound"),
    ]
    for method, path, code, reason in cases:
        async with http.request(method, cluster.url + path) as resp:
            body = await resp.json()
        assert (resp.status, body["kind"], body["code"], body["reason"]) == (code, "Status", code, reason)
    assert (await read_log(http, cluster.url, f"?since={start}"))["requests"] == []


async def test_kubernetes_client_calls_show_up(cluster: DevCluster, http: aiohttp.ClientSession) -> None:
    start = await mark(http, cluster.url)
    async with client.ApiClient(configuration=client.Configuration(host=cluster.url)) as api:
        await client.CoreV1Api(api).list_namespaced_config_map("default", label_selector="a=b")
    log = await read_log(http, cluster.url, f"?since={start}")
    [entry] = log["requests"]
    assert entry["method"] == "GET"
    assert entry["path"] == "/api/v1/namespaces/default/configmaps?labelSelector=a%3Db"


async def test_a_watch_is_logged_when_it_arrives(cluster: DevCluster, http: aiohttp.ClientSession) -> None:
    start = await mark(http, cluster.url)
    path = "/apis/ray.io/v1/namespaces/default/rayclusters?watch=true&timeoutSeconds=5"
    async with http.get(cluster.url + path) as resp:
        assert resp.status == 200
        # The watch is still open: its request is in the log before its response ends.
        log = await read_log(http, cluster.url, f"?since={start}")
        assert log["requests"] == [{"index": start, "method": "GET", "path": path}]
        resp.close()


async def test_in_process_view_matches_http(cluster: DevCluster, http: aiohttp.ClientSession) -> None:
    start = cluster.next_request_index
    async with http.get(f"{cluster.url}/api/v1/namespaces?limit=1") as resp:
        assert resp.status == 200
    assert cluster.next_request_index == start + 1
    assert cluster.requests(start) == [LoggedRequest(start, "GET", "/api/v1/namespaces?limit=1")]
    assert cluster.requests(start + 1) == []
    served = await read_log(http, cluster.url)
    assert [entry.to_json() for entry in cluster.requests()] == served["requests"]


async def test_the_log_keeps_only_the_last_requests(http: aiohttp.ClientSession) -> None:
    dev = DevCluster(request_log_size=3)
    await dev.start()
    try:
        for i in range(5):
            async with http.get(f"{dev.url}/api/v1/namespaces/n{i}") as resp:
                assert resp.status == 404
        log = await read_log(http, dev.url, "?since=0")
        assert log["next"] == 5
        assert [(e["index"], e["path"]) for e in log["requests"]] == [
            (2, "/api/v1/namespaces/n2"),
            (3, "/api/v1/namespaces/n3"),
            (4, "/api/v1/namespaces/n4"),
        ]
        assert [e["index"] for e in (await read_log(http, dev.url, "?since=3"))["requests"]] == [3, 4]
    finally:
        await dev.stop()
    with pytest.raises(RuntimeError, match="not started"):
        dev.requests()
    with pytest.raises(RuntimeError, match="not started"):
        _ = dev.next_request_index


def test_request_log_ring_indexes() -> None:
    log = RequestLog(size=2)
    assert (log.next_index, log.since()) == (0, [])
    for method in ("GET", "PUT", "POST"):
        log.record(method, "/x")
    assert log.since() == [LoggedRequest(1, "PUT", "/x"), LoggedRequest(2, "POST", "/x")]
    assert log.since(2) == [LoggedRequest(2, "POST", "/x")]
    assert log.since(3) == [] and log.next_index == 3
    with pytest.raises(ValueError):
        RequestLog(size=0)


async def test_concurrent_requests_get_distinct_consecutive_indexes(
    cluster: DevCluster, http: aiohttp.ClientSession
) -> None:
    start = await mark(http, cluster.url)

    async def probe(i: int) -> None:
        async with http.get(f"{cluster.url}/api/v1/namespaces/default/configmaps?n={i}") as resp:
            assert resp.status == 200

    await asyncio.gather(*(probe(i) for i in range(20)))
    log = await read_log(http, cluster.url, f"?since={start}")
    assert [e["index"] for e in log["requests"]] == list(range(start, start + 20))
    assert sorted(e["path"] for e in log["requests"]) == sorted(
        f"/api/v1/namespaces/default/configmaps?n={i}" for i in range(20)
    )
