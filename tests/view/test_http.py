"""The explorer's HTTP layer under load and attack (Starlette on uvicorn).

It was a hand-written ``ThreadingHTTPServer`` with a listen backlog of 5, where 200
parallel heavy requests timed out and each held ~70 MB.  Now heavy queries run at most
``Limits.heavy`` at a time and the rest wait their turn or get a clean 503.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from capgym.store import RunStore
from capgym.view.asgi import ExplorerServer, Limits
from capgym.view.server import make_server, serve_in_thread

HEAVY = {"model": "tiny-a", "compare": "tiny-b", "sort": "absdiff", "order": "desc",
         "page_size": 200}  # fmt: skip


def request(
    url: str, method: str = "GET", path: str = "/", headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    """One request with the path sent exactly as given (no client-side normalisation)."""
    u = urlsplit(url)
    con = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    try:
        con.request(method, path, body=body, headers=headers or {})
        r = con.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        con.close()


@pytest.fixture()
def served(demo_store: RunStore) -> Iterator[ExplorerServer]:
    srv, _ = serve_in_thread(demo_store, limits=Limits(heavy=2))
    yield srv
    srv.shutdown()
    srv.server_close()


def url_of(srv: ExplorerServer) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}/"


def test_fifty_concurrent_heavy_requests(served: ExplorerServer) -> None:
    url, path = url_of(served), "/api/positions?" + urlencode(HEAVY)
    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda _: request(url, path=path), range(50)))
    statuses = [s for s, _, _ in results]
    assert set(statuses) <= {200, 503}, statuses
    ok = [json.loads(b) for s, _, b in results if s == 200]
    assert ok and all(r == ok[0] for r in ok)  # every answer complete and the same
    assert ok[0]["total"] > 0 and len(ok[0]["rows"]) > 0
    for s, h, b in results:
        if s == 503:
            assert json.loads(b)["error"] and h["retry-after"]


def test_a_full_queue_answers_503_not_a_hang(demo_store: RunStore) -> None:
    srv, url = serve_in_thread(demo_store, limits=Limits(heavy=1, queue_s=0.2))
    entered, release = threading.Event(), threading.Event()
    real = srv.explorer.handle

    def slow(path: str, query: str) -> Any:
        entered.set()
        release.wait(60)
        return real(path, query)

    srv.explorer.handle = slow  # type: ignore[method-assign]
    try:
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(request, url, path="/api/positions?model=tiny-a")
            assert entered.wait(60)
            status, headers, body = request(url, path="/api/positions?model=tiny-a")
            assert status == 503 and headers["retry-after"] == "5"
            assert "busy" in json.loads(body)["error"]
            release.set()
            assert first.result()[0] == 200
    finally:
        release.set()
        srv.shutdown()
        srv.server_close()


def test_methods_head_and_limits(served: ExplorerServer) -> None:
    url = url_of(served)
    status, headers, body = request(url, "HEAD", "/api/meta")
    assert status == 200 and body == b"" and headers["content-type"].startswith("application/json")
    assert "default-src 'none'" in headers["content-security-policy"]
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        status, headers, _ = request(url, method, "/api/meta", body=b"{}")
        assert status == 405 and "GET" in headers["allow"], method
    status, _, _ = request(url, "GET", "/api/meta", body=b"x" * 10)
    assert status == 413
    status, _, _ = request(url, path="/api/positions?model=tiny-a&q=" + "x" * 5000)
    assert status == 414


def test_host_header_is_checked(served: ExplorerServer) -> None:
    url = url_of(served)
    for host in ("attacker.example", f"attacker.example:{served.server_address[1]}", ""):
        status, headers, _ = request(url, path="/api/meta", headers={"Host": host})
        assert status == 403, host
        assert headers["x-content-type-options"] == "nosniff"
    status, _, _ = request(
        url, path="/api/meta", headers={"Host": f"localhost:{served.server_address[1]}"}
    )
    assert status == 200


TRAVERSALS = [
    "/../capgym.json", "/%2e%2e/capgym.json", "/..%2fcapgym.json", "/api/../capgym.json",
    "/api/..%2f..%2fcapgym.json", "/static/../../capgym.json", "//etc/passwd",
    "/api/meta/../../capgym.json", "/capgym.json", "/scores", "/.cache", "/api/",
    "/api/x_scores", "/%00", "/api/story%00", "/explorer.js", "/static/explorer.js",
    "/api/story?corpus=..%2F..%2Fetc%2Fpasswd&model=tiny-a&story=0",
    "/api/story?corpus=/etc/passwd&model=tiny-a&story=0",
]  # fmt: skip


@pytest.mark.parametrize("path", TRAVERSALS)
def test_no_file_is_served_from_a_path(served: ExplorerServer, path: str) -> None:
    status, _, body = request(url_of(served), path=path)
    assert status in (400, 404), (path, status)
    assert b"schema_version" not in body and b"root:" not in body and b"PAR1" not in body
    assert json.loads(body)["error"]


INJECTIONS = ["' OR 1=1 --", "x'; DROP TABLE x_scores; --", "1; SELECT * FROM x_stories",
              "\" OR \"\"=\"", "prob) UNION SELECT text FROM x_stories --", "%", "_",
              "'||(SELECT 1)||'", "\\'; COPY x_scores TO '/tmp/pwn.csv'; --"]  # fmt: skip
FIELDS = ["model", "compare", "sort", "order", "capability", "explainer", "token", "q",
          "corpus", "page", "page_size", "pmin", "correct"]  # fmt: skip


def test_injections_over_http_fail(served: ExplorerServer) -> None:
    url = url_of(served)
    routes = ("/api/positions", "/api/stories", "/api/story")

    def total(route: str) -> Any:
        return json.loads(request(url, path=f"{route}?model=tiny-a")[2]).get("total")

    baseline = {route: total(route) for route in routes}
    for field in FIELDS:
        for payload in INJECTIONS:
            for route in routes:
                params = {"model": "tiny-a", "corpus": "demo", "story": "0", field: payload}
                status, _, body = request(url, path=f"{route}?{urlencode(params)}")
                assert status in (200, 400), (route, field, payload, status)
                out = json.loads(body)
                if status == 200 and "total" in out:  # a bound value matches nothing or all
                    assert out["total"] in (0, baseline[route]), (route, field, payload)
    assert {route: total(route) for route in routes} == baseline


def test_binds_loopback_by_default(demo_store: RunStore) -> None:
    srv = make_server(demo_store, port=0)
    try:
        assert srv.server_address[0] == "127.0.0.1"
    finally:
        srv.server_close()


def test_a_taken_port_or_bad_host_is_one_usage_error(demo_store: RunStore) -> None:
    from capgym.errors import UsageError

    srv = make_server(demo_store, port=0)
    try:
        with pytest.raises(UsageError, match="choose another --port"):
            make_server(demo_store, port=srv.server_address[1])
        with pytest.raises(UsageError, match="out of range"):
            make_server(demo_store, port=70000)
        with pytest.raises(UsageError, match="--host"):
            make_server(demo_store, host="no-such-host.invalid", port=0)
    finally:
        srv.server_close()
