"""The audit trail through the HTTP API (and the ``audit`` command): filters, order, pages and errors.

The database is shared by the whole session, so every test uses its own users, names and namespace and only looks
at what it wrote.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.e2e import payloads
from tests.support.processes import REPO, Service

pytestmark = pytest.mark.asyncio(loop_scope="session")

PREFIXES = ["/apis/v1", "/apis/v1alpha2"]
FIELDS = ("user", "action", "resource", "name", "outcome", "code")
Event = dict[str, Any]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def key(event: Event) -> tuple[Any, ...]:
    """The fields a test predicts; zero values are omitted on the wire, as protojson does."""
    return tuple(event.get(field, 0 if field == "code" else "") for field in FIELDS)


async def events(api: httpx.AsyncClient, path: str = "/apis/v1/audit", **params: Any) -> list[Event]:
    response = await api.get(path, params=params)
    assert response.status_code == 200, response.text
    data = response.json()
    assert "nextPageToken" not in data, "the test expected a single page"
    result: list[Event] = data["events"]
    return result


async def all_pages(api: httpx.AsyncClient, path: str, size: int, **params: Any) -> list[list[Event]]:
    pages, token = [], ""
    for _ in range(100):
        response = await api.get(path, params={**params, "pageSize": size, "pageToken": token})
        assert response.status_code == 200, response.text
        data = response.json()
        pages.append(data["events"])
        token = data.get("nextPageToken", "")
        if not token:
            return pages
    raise AssertionError("pagination did not end")


class Scenario:
    """Changes made by two users in one namespace, with failures, and the events they should leave."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.alice, self.bob = unique("alice"), unique("bob")
        self.tpl_a, self.tpl_b, self.tpl_zero = unique("tpl-a"), unique("tpl-b"), unique("tpl-zero")
        self.c1, self.c2, self.nope = unique("c1"), unique("c2"), unique("nope")
        self.expected: list[Event] = []  # oldest first
        self.split = 0  # expected[:split] happened at least a second before expected[split:]

    def expect(self, user: str, action: str, resource: str, name: str, code: int = 0) -> None:
        self.expected.append(
            {
                "user": user,
                "action": action,
                "resource": resource,
                "name": name,
                "outcome": "FAILURE" if code else "SUCCESS",
                "code": code,
            }
        )

    async def run(self, api: httpx.AsyncClient) -> None:
        ns = self.namespace
        templates = f"/apis/v1/namespaces/{ns}/compute_templates"
        clusters = f"/apis/v1/namespaces/{ns}/clusters"

        async def post(url: str, body: dict[str, Any], status: int) -> None:
            response = await api.post(url, json=body)
            assert response.status_code == status, response.text

        await post(templates, payloads.template(ns, self.tpl_a, user=self.alice), 200)
        self.expect(self.alice, "CREATE", "computeTemplates", self.tpl_a)
        await post(templates, payloads.template(ns, self.tpl_b, user=self.bob), 200)
        self.expect(self.bob, "CREATE", "computeTemplates", self.tpl_b)
        await post(templates, payloads.template(ns, self.tpl_a, user=self.bob), 409)  # duplicate
        self.expect(self.bob, "CREATE", "computeTemplates", self.tpl_a, code=6)
        await post(templates, payloads.template(ns, self.tpl_zero, user=self.alice, cpu=0), 400)  # invalid
        self.expect(self.alice, "CREATE", "computeTemplates", self.tpl_zero, code=3)
        cluster = {**payloads.cluster(ns, self.c1, self.tpl_a), "user": self.alice}
        await post(clusters, cluster, 200)
        self.expect(self.alice, "CREATE", "clusters", self.c1)

        # Whole seconds on the wire: a pause longer than one makes a since/until boundary between the halves.
        await asyncio.sleep(1.2)
        self.split = len(self.expected)

        missing = {**payloads.cluster(ns, self.c2, unique("no-such-template")), "user": self.bob}
        await post(clusters, missing, 400)  # missing template: failed precondition
        self.expect(self.bob, "CREATE", "clusters", self.c2, code=9)
        assert (await api.delete(f"{clusters}/{self.c1}")).status_code == 200
        self.expect("", "DELETE", "clusters", self.c1)
        assert (await api.delete(f"{templates}/{self.tpl_b}")).status_code == 200
        self.expect("", "DELETE", "computeTemplates", self.tpl_b)
        assert (await api.delete(f"{templates}/{self.nope}")).status_code == 404
        self.expect("", "DELETE", "computeTemplates", self.nope, code=5)

    def newest_first(self, keep: Callable[[Event], bool] = lambda _: True) -> list[tuple[Any, ...]]:
        return [key(e) for e in reversed(self.expected) if keep(e)]


_scenarios: dict[str, Scenario] = {}


@pytest_asyncio.fixture(loop_scope="session")
async def scenario(api: httpx.AsyncClient, backend: Service, namespace: str) -> Scenario:
    """The scenario, run once per backend: the tests using it only read (and it takes a few seconds)."""
    if backend.url not in _scenarios:
        ran = Scenario(namespace)
        await ran.run(api)
        _scenarios[backend.url] = ran
    return _scenarios[backend.url]


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_namespace_route_lists_everything_newest_first(
    api: httpx.AsyncClient, scenario: Scenario, prefix: str
) -> None:
    got = await events(api, f"{prefix}/namespaces/{scenario.namespace}/audit")
    assert [key(e) for e in got] == scenario.newest_first()
    assert {e["namespace"] for e in got} == {scenario.namespace}
    times = [e["time"] for e in got]
    assert times == sorted(times, reverse=True) and all(t.endswith("Z") for t in times)
    ids = [int(e["id"]) for e in got]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    assert all(e["requestId"] for e in got)


async def test_failures_carry_code_and_message(api: httpx.AsyncClient, scenario: Scenario) -> None:
    got = await events(api, f"/apis/v1/namespaces/{scenario.namespace}/audit", outcome="FAILURE")
    by_name = {e["name"]: e for e in got}
    assert set(by_name) == {scenario.tpl_a, scenario.tpl_zero, scenario.c2, scenario.nope}
    assert by_name[scenario.tpl_a]["code"] == 6
    assert "already exists in namespace" in by_name[scenario.tpl_a]["message"]
    assert by_name[scenario.tpl_zero]["code"] == 3
    assert "Cpu amount is zero" in by_name[scenario.tpl_zero]["message"]
    assert by_name[scenario.c2]["code"] == 9 and "not found" in by_name[scenario.c2]["message"]
    assert by_name[scenario.nope]["code"] == 5 and scenario.nope in by_name[scenario.nope]["message"]
    successes = await events(api, f"/apis/v1/namespaces/{scenario.namespace}/audit", outcome="SUCCESS")
    assert successes and all("code" not in e and "message" not in e for e in successes)


def _filters(s: Scenario) -> list[tuple[str, dict[str, str], Callable[[Event], bool]]]:
    """(id, query, predicate) for every filter alone and in combinations, on the namespace route."""
    return [
        ("user", {"user": s.alice}, lambda e: e["user"] == s.alice),
        ("resource", {"resource": "clusters"}, lambda e: e["resource"] == "clusters"),
        ("name", {"name": s.tpl_a}, lambda e: e["name"] == s.tpl_a),
        ("action", {"action": "DELETE"}, lambda e: e["action"] == "DELETE"),
        ("outcome", {"outcome": "FAILURE"}, lambda e: e["code"] != 0),
        ("user+action", {"user": s.bob, "action": "CREATE"}, lambda e: e["user"] == s.bob),
        (
            "resource+outcome",
            {"resource": "computeTemplates", "outcome": "SUCCESS"},
            lambda e: e["resource"] == "computeTemplates" and e["code"] == 0,
        ),
        (
            "name+action+outcome",
            {"name": s.c1, "action": "DELETE", "outcome": "SUCCESS"},
            lambda e: e["name"] == s.c1 and e["action"] == "DELETE",
        ),
        (
            "user+resource+name+outcome",
            {"user": s.bob, "resource": "computeTemplates", "name": s.tpl_a, "outcome": "FAILURE"},
            lambda e: e["user"] == s.bob and e["name"] == s.tpl_a,
        ),
        ("no match", {"user": s.alice, "action": "DELETE"}, lambda e: False),
    ]


async def test_every_filter_alone_and_combined(api: httpx.AsyncClient, scenario: Scenario) -> None:
    path = f"/apis/v1/namespaces/{scenario.namespace}/audit"
    for name, query, keep in _filters(scenario):
        assert [key(e) for e in await events(api, path, **query)] == scenario.newest_first(keep), name


async def test_filters_across_namespaces(api: httpx.AsyncClient, scenario: Scenario) -> None:
    """The all-namespaces route with filters that only match this test's rows (unique users and names)."""
    s = scenario
    assert [key(e) for e in await events(api, user=s.alice)] == s.newest_first(lambda e: e["user"] == s.alice)
    assert [key(e) for e in await events(api, name=s.c1)] == s.newest_first(lambda e: e["name"] == s.c1)
    assert [
        key(e) for e in await events(api, user=s.bob, action="CREATE", outcome="FAILURE")
    ] == s.newest_first(lambda e: e["user"] == s.bob and e["code"] != 0)
    assert [
        key(e) for e in await events(api, "/apis/v1alpha2/audit", name=s.tpl_a, resource="clusters")
    ] == []
    elsewhere = await events(api, f"/apis/v1/namespaces/{unique('t-other')}/audit", user=s.alice)
    assert elsewhere == []


async def test_since_and_until(api: httpx.AsyncClient, scenario: Scenario) -> None:
    path = f"/apis/v1/namespaces/{scenario.namespace}/audit"
    everything = await events(api, path)
    newest = scenario.newest_first()
    later = len(scenario.expected) - scenario.split  # events after the pause
    boundary = everything[later - 1]["time"]  # the oldest event after the pause, in whole seconds
    assert [key(e) for e in await events(api, path, since=boundary)] == newest[:later]
    assert [key(e) for e in await events(api, path, until=boundary)] == newest[later:]
    oldest = everything[-1]["time"]
    assert [key(e) for e in await events(api, path, since=oldest, until=boundary)] == newest[later:]
    # Combined with other filters, and written with an offset instead of Z.
    with_offset = boundary.replace("Z", "+00:00")
    assert [key(e) for e in await events(api, path, since=with_offset, action="DELETE")] == newest[:3]
    assert [key(e) for e in await events(api, path, until=boundary, user=scenario.bob)] == [
        key(e) for e in reversed(scenario.expected[: scenario.split]) if e["user"] == scenario.bob
    ]
    assert await events(api, path, since="2000-01-01T00:00:00Z", until="2000-01-02T00:00:00Z") == []


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("size", [1, 2, 4, 9])
async def test_pages_have_no_duplicates_or_gaps(
    api: httpx.AsyncClient, scenario: Scenario, prefix: str, size: int
) -> None:
    path = f"{prefix}/namespaces/{scenario.namespace}/audit"
    pages = await all_pages(api, path, size)
    total = len(scenario.expected)
    assert [len(page) for page in pages] == [min(size, total - i) for i in range(0, total, size)]
    flat = [e for page in pages for e in page]
    assert [e["id"] for e in flat] == [e["id"] for e in await events(api, path)]
    assert [key(e) for e in flat] == scenario.newest_first()


async def test_pages_with_filters(api: httpx.AsyncClient, scenario: Scenario) -> None:
    pages = await all_pages(api, "/apis/v1/audit", 2, user=scenario.alice)
    flat = [key(e) for page in pages for e in page]
    assert flat == scenario.newest_first(lambda e: e["user"] == scenario.alice)
    assert [len(page) for page in pages] == [2, 1]


async def test_page_size_zero_is_the_default(api: httpx.AsyncClient, scenario: Scenario) -> None:
    path = f"/apis/v1/namespaces/{scenario.namespace}/audit"
    for params in ({"pageSize": 0}, {"pageSize": ""}, {"page_size": 0}):
        response = await api.get(path, params=params)
        assert response.status_code == 200 and len(response.json()["events"]) == len(scenario.expected)
    snake = await api.get(path, params={"page_size": 2})
    token = snake.json()["nextPageToken"]
    second = await api.get(path, params={"page_size": 2, "page_token": token})
    assert [key(e) for e in second.json()["events"]] == scenario.newest_first()[2:4]


def _token(value: Any) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"resource": "foo"}, "invalid resource 'foo'"),
        ({"resource": "CLUSTERS"}, "invalid resource 'CLUSTERS'"),
        ({"action": "x"}, "invalid action 'x'"),
        ({"outcome": "maybe"}, "invalid outcome 'maybe'"),
        ({"since": "yesterday"}, "invalid since 'yesterday'"),
        ({"until": "2026-13-01T00:00:00Z"}, "invalid until"),
        ({"since": "2026-01-01T00:00:00"}, "needs a zone"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since/until"),
        ({"since": "2026-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since/until"),
        ({"pageSize": 5000}, "invalid pageSize '5000'"),
        ({"pageSize": 1001}, "invalid pageSize '1001'"),
        ({"pageSize": -1}, "invalid pageSize '-1'"),
        ({"pageSize": "ten"}, "invalid pageSize 'ten'"),
        ({"pageToken": "not-a-token"}, "invalid pageToken"),
        ({"pageToken": _token({"a": 1})}, "invalid pageToken"),
        ({"pageToken": _token(["2026-01-01T00:00:00Z", "x"])}, "invalid pageToken"),
        ({"pageToken": _token([1, 2])}, "invalid pageToken"),
    ],
    ids=lambda value: value if isinstance(value, str) else "&".join(f"{k}={v}" for k, v in value.items()),
)
@pytest.mark.parametrize("prefix", PREFIXES)
async def test_invalid_filters_are_400_naming_the_filter(
    api: httpx.AsyncClient, namespace: str, prefix: str, query: dict[str, Any], named: str
) -> None:
    for path in (f"{prefix}/audit", f"{prefix}/namespaces/{namespace}/audit"):
        response = await api.get(path, params=query)
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["code"] == 3 and named in body["message"], body


async def test_page_size_limits(api: httpx.AsyncClient, namespace: str) -> None:
    for size in (1, 1000):
        response = await api.get(f"/apis/v1/namespaces/{namespace}/audit", params={"pageSize": size})
        assert response.status_code == 200 and response.json() == {"events": []}


# -- the command line ------------------------------------------------------------------------------------------


def database_url(backend: Service) -> str:
    """The URL the conftest attaches to the running service."""
    return str(backend.database_url)  # type: ignore[attr-defined]


async def cli(url: str, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service",
        "audit",
        "--database-url",
        url,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_cli_json_matches_the_api(api: httpx.AsyncClient, backend: Service, scenario: Scenario) -> None:
    url = database_url(backend)
    for http_query, args in [
        ({}, ["--namespace", scenario.namespace]),
        ({"user": scenario.alice}, ["--user", scenario.alice]),
        ({"outcome": "FAILURE"}, ["--namespace", scenario.namespace, "--outcome", "FAILURE"]),
        (
            {"authMethod": "none", "requestedUser": scenario.bob, "sourceIp": "127.0.0.1"},
            [
                "--namespace",
                scenario.namespace,
                "--auth-method",
                "none",
                "--requested-user",
                scenario.bob,
                "--source-ip",
                "127.0.0.1",
            ],
        ),
        (
            {"resource": "clusters", "action": "DELETE", "name": scenario.c1},
            ["--resource", "clusters", "--action", "DELETE", "--name", scenario.c1],
        ),
    ]:
        path = (
            f"/apis/v1/namespaces/{scenario.namespace}/audit" if "--namespace" in args else "/apis/v1/audit"
        )
        expected = (await api.get(path, params=http_query)).json()
        assert expected["events"], http_query  # a filter that finds nothing would prove nothing
        code, out, err = await cli(url, *args, "--format", "json")
        assert code == 0, err
        assert json.loads(out) == expected
    code, out, _ = await cli(url, "--namespace", scenario.namespace, "--limit", "3", "--format", "json")
    assert [key(e) for e in json.loads(out)["events"]] == scenario.newest_first()[:3]
    boundary = (await events(api, f"/apis/v1/namespaces/{scenario.namespace}/audit"))[0]["time"]
    code, out, _ = await cli(url, "--namespace", scenario.namespace, "--since", boundary, "--format", "json")
    assert code == 0 and json.loads(out)["events"]
    code, out, _ = await cli(
        url, "--user", scenario.alice, "--until", "2000-01-01T00:00:00Z", "--format", "json"
    )
    assert code == 0 and json.loads(out) == {"events": []}


async def test_cli_table(backend: Service, scenario: Scenario) -> None:
    code, out, err = await cli(
        database_url(backend),
        "--namespace",
        scenario.namespace,
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == [
        "TIME",
        "USER",
        "ACTION",
        "RESOURCE",
        "NAMESPACE",
        "NAME",
        "OUTCOME",
        "CODE",
        "MESSAGE",
    ]
    assert len(lines) == 1 + len(scenario.expected)
    starts = {lines[0].index(column) for column in ("USER", "ACTION", "OUTCOME", "CODE", "MESSAGE")}
    for line in lines[1:]:  # aligned: every value starts under its heading
        assert all(line[start - 2 : start] == "  " for start in starts), line
    rows = [line.split(maxsplit=8) for line in lines[1:]]
    assert [(r[1], r[2], r[3], r[5], r[6], int(r[7])) for r in rows] == [
        (user or "-", *rest) for user, *rest in scenario.newest_first()
    ]
    assert all(len(line) <= 250 for line in lines)


@pytest.mark.parametrize(
    ("args", "query"),
    [
        (["--resource", "foo"], {"resource": "foo"}),
        (["--action", "x"], {"action": "x"}),
        (["--since", "yesterday"], {"since": "yesterday"}),
        (
            ["--since", "2026-01-02T00:00:00Z", "--until", "2026-01-01T00:00:00Z"],
            {
                "since": "2026-01-02T00:00:00Z",
                "until": "2026-01-01T00:00:00Z",
            },
        ),
    ],
)
async def test_cli_invalid_filter_prints_the_api_message(
    api: httpx.AsyncClient, backend: Service, args: list[str], query: dict[str, str]
) -> None:
    http = await api.get("/apis/v1/audit", params=query)
    assert http.status_code == 400
    code, out, err = await cli(
        database_url(backend),
        *args,
    )
    assert (code, out, err.strip()) == (2, "", http.json()["message"])


async def test_one_event_carries_the_spec_it_recorded(api: httpx.AsyncClient, namespace: str) -> None:
    body = {
        "name": "tpl-detail",
        "namespace": namespace,
        "cpu": 3,
        "memory": 6,
        "user": "dora",
        "gpu_accelerator": "x/y",
    }
    assert (
        await api.post(f"/apis/v1/namespaces/{namespace}/compute_templates", json=body)
    ).status_code == 200
    (event,) = (
        await api.get(f"/apis/v1/namespaces/{namespace}/audit", params={"name": "tpl-detail"})
    ).json()["events"]
    for path in (
        f"/apis/v1/audit/{event['id']}",
        f"/apis/v1alpha2/namespaces/{namespace}/audit/{event['id']}",
    ):
        detail = (await api.get(path)).json()
        assert {k: v for k, v in detail.items() if k != "spec"} == event
        assert detail["spec"] == {
            "name": "tpl-detail",
            "namespace": namespace,
            "cpu": 3,
            "memory": 6,
            "user": "dora",
            "gpuAccelerator": "x/y",
        }
    elsewhere = await api.get(f"/apis/v1/namespaces/{namespace}-other/audit/{event['id']}")
    assert elsewhere.status_code == 404 and elsewhere.json()["code"] == 5
    bad = await api.get("/apis/v1/audit/not-a-number")
    assert bad.status_code == 400 and "audit event id" in bad.json()["message"]
