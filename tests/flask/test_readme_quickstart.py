"""The Flask quick starts of README.md and contrib/flask/README.md run as written (against the
simulated cluster instead of 10.0.0.1 and 10.0.0.2)."""

from __future__ import annotations

# isort: off
from flask_helpers import CONTRIB, ROOT  # first: puts contrib/flask on sys.path

import re

import pytest
# isort: on


def _block(path, heading: str) -> str:
    text = path.read_text()
    section = text[text.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.parametrize(("readme", "heading"), [
    (ROOT / "README.md", "## Flask\n"),
    (CONTRIB / "README.md", "## Quick start\n"),
])
def test_quick_start_runs(readme, heading, sim_cluster):
    code = _block(readme, heading)
    assert len(code.strip().splitlines()) <= 15 or readme != ROOT / "README.md"
    points = 'GREENCQL_CONTACT_POINTS="10.0.0.1,10.0.0.2"'
    assert points in code
    code = code.replace(points, f'GREENCQL_CONTACT_POINTS="{",".join(sim_cluster.contact_points)}"'
                                f", GREENCQL_PORT={sim_cluster.port}")
    namespace: dict = {"__name__": "quickstart"}
    exec(compile(code, f"{readme.name} quick start", "exec"), namespace)
    app = namespace["create_app"]()
    cql = namespace["cql"]
    try:
        with app.app_context():
            session = cql.cluster.connect()
            session.execute("CREATE KEYSPACE IF NOT EXISTS shop WITH replication = "
                            "{'class': 'SimpleStrategy', 'replication_factor': 1}")
            session.execute("CREATE TABLE IF NOT EXISTS shop.items (id int PRIMARY KEY, "
                            "name text)")
            session.execute("INSERT INTO shop.items (id, name) VALUES (1, 'tea')")
            session.shutdown()
        client = app.test_client()
        assert client.get("/items/1").json == {"name": "tea"}
        assert client.get("/items/2").status_code == 404
    finally:
        with app.app_context():
            cql.shutdown()
