"""The example app (contrib/flask/example, a URL shortener) with Flask's test client against
the simulated cluster, on every hub: create (LWT), list with paging through the URL, the
visit counter, idempotent reads through a stopped node."""

from __future__ import annotations

# isort: off
from flask_helpers import shortener_app_fixture  # noqa: F401 (the shortener_app fixture; sys.path)

import os
# isort: on


def _create(client, url, code=None):
    body = {"url": url} if code is None else {"url": url, "code": code}
    return client.post("/links", json=body)


def test_create_takes_the_code_once_with_a_lightweight_transaction(shortener_app, sim_cluster):
    client = shortener_app.test_client()
    first = _create(client, "https://example.com/a", "lwt1")
    assert first.status_code == 201, first.data
    assert first.json == {"code": "lwt1", "url": "https://example.com/a"}
    again = _create(client, "https://example.com/other", "lwt1")
    assert again.status_code == 409
    assert client.get("/links/lwt1").json["url"] == "https://example.com/a"  # not overwritten
    inserts = [r for r in sim_cluster.records(kind="EXECUTE")
               if r.query and "IF NOT EXISTS" in r.query]
    assert len(inserts) >= 2
    generated = _create(client, "https://example.com/generated")
    assert generated.status_code == 201 and generated.json["code"]


def test_bad_input_is_a_400(shortener_app):
    client = shortener_app.test_client()
    assert _create(client, "ftp://nope").status_code == 400
    assert client.get("/links?size=x").status_code == 400
    assert client.get("/links?page=zz").status_code == 400
    assert client.get("/links?size=0").status_code == 400
    assert client.get("/links/nope").status_code == 404


def test_visits_are_counted(shortener_app):
    client = shortener_app.test_client()
    assert _create(client, "https://example.com/visited", "visits1").status_code == 201
    assert client.get("/links/visits1").json["visits"] == 0
    for _ in range(3):
        response = client.get("/r/visits1")
        assert response.status_code == 302
        assert response.headers["Location"] == "https://example.com/visited"
    assert client.get("/links/visits1").json["visits"] == 3


def test_list_pages_through_the_url(shortener_app):
    client = shortener_app.test_client()
    codes = {f"page{i}" for i in range(7)}
    for code in codes:
        assert _create(client, f"https://example.com/{code}", code).status_code == 201
    seen: list[str] = []
    url = "/links?size=3"
    pages = 0
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200
        links = response.json["links"]
        assert len(links) <= 3
        seen += [link["code"] for link in links]
        url = response.json["next"]
        pages += 1
        assert pages < 50
    assert codes <= set(seen)
    assert len(seen) == len(set(seen))  # no link twice
    assert pages >= 3


def test_idempotent_reads_survive_a_stopped_node(shortener_app, sim_cluster):
    client = shortener_app.test_client()
    assert _create(client, "https://example.com/ha", "ha1").status_code == 201
    sim_cluster.node(2).stop()
    for _ in range(20):
        response = client.get("/links/ha1")
        assert response.status_code == 200, response.data
        assert response.json["url"] == "https://example.com/ha"


def test_debug_endpoint_reports_this_process(shortener_app, sim_cluster):
    client = shortener_app.test_client()
    info = client.get("/_debug/worker").json
    assert info["pid"] == os.getpid()
    assert info["ports"]  # at least the control connection
    clients = {c.peer[1] for n in sim_cluster.nodes for c in n.connections}
    assert set(info["ports"]) <= clients
    by_node = {f"{n.address}:{c.peer[1]}" for n in sim_cluster.nodes for c in n.connections}
    assert info["connections"] and set(info["connections"]) <= by_node
    shortener_app.config["SHORTENER_DEBUG"] = False
    assert client.get("/_debug/worker").status_code == 404
