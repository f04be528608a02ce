"""The Flask example (contrib/flask/example, a URL shortener) driven over HTTP by locust.

Owns the HTTP workload: what a visitor of the shortener does, in proportions close to a real
one (most requests read; few create):

- 60%: look a link up (``GET /links/<code>``: two idempotent reads);
- 20%: follow a link (``GET /r/<code>``: a counter update, answered with a redirect);
- 10%: list a page of links (``GET /links?size=20``);
- 10%: create a link (``POST /links``: a lightweight transaction; 409 when the code is
  taken is an answer, not a failure).

``--host`` is the example's base URL (``http://127.0.0.1:8000``); ``loadtests/run.py
--workload http`` starts the simulated cluster, applies the example's schema and serves the
example with gunicorn's gevent workers before it runs this file. Until the Flask integration
(``flask_greencql``, contrib/flask) and its example are present, this file says so and exits
without running anything (exit code 0): see :func:`missing`.
"""

from __future__ import annotations

import importlib.util
import random
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "contrib" / "flask" / "example" / "shortener.py"


def missing() -> str | None:
    """Why the HTTP workload cannot run from this checkout (None when it can)."""
    if importlib.util.find_spec("flask_greencql") is None \
            and not (ROOT / "contrib" / "flask" / "flask_greencql").is_dir():
        return ("flask_greencql (contrib/flask, the Flask integration of issue 9) is neither "
                "installed nor in this checkout")
    if not EXAMPLE.exists():
        return f"the Flask example {EXAMPLE.relative_to(ROOT)} is not in this checkout"
    return None


_why = missing()
if _why is not None:
    print(f"locustfile_http: SKIPPED: {_why}", file=sys.stderr)
    raise SystemExit(0)

from locust import HttpUser, between, task  # noqa: E402

#: codes created by the users of this process (looked up and followed by every user)
_codes: list[str] = []


class ShortenerVisitor(HttpUser):
    """A visitor of the URL shortener."""

    wait_time = between(0.05, 0.15)

    def on_start(self) -> None:
        for _ in range(2):
            self.create()

    def _code(self) -> str:
        return random.choice(_codes) if _codes else "missing"

    @task(60)
    def look_up(self) -> None:
        self.client.get(f"/links/{self._code()}", name="/links/<code>")

    @task(20)
    def follow(self) -> None:
        with self.client.get(f"/r/{self._code()}", name="/r/<code>", allow_redirects=False,
                             catch_response=True) as response:
            if response.status_code in (301, 302, 303, 307, 308):
                response.success()
            else:
                response.failure(f"expected a redirect, got {response.status_code}")

    @task(10)
    def list_page(self) -> None:
        self.client.get("/links?size=20", name="/links?size=20")

    @task(10)
    def create(self) -> None:
        code = secrets.token_hex(4)
        with self.client.post("/links", data={"url": f"https://example.com/{code}",
                                              "code": code},
                              name="POST /links", catch_response=True) as response:
            if response.status_code == 201:
                _codes.append(code)
                response.success()
            elif response.status_code == 409:  # taken: the LWT said no, as it should
                response.success()
            else:
                response.failure(f"expected 201 or 409, got {response.status_code}")
