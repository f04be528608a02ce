"""Hub selection: explicit name, GREENCQL_HUB, detection by what the program patched.

Detection is checked in fresh subprocesses: this pytest process is already patched.
"""

import json
import os
import subprocess
import sys

import pytest

from greencql.errors import HubError
from greencql.hubs import get_hub

_REPORT = """
import json, sys
from greencql.hubs import get_hub
print(json.dumps({"hub": get_hub().name,
                  "gevent": "gevent" in sys.modules,
                  "eventlet": "eventlet" in sys.modules}))
"""


def _run(prelude, env_hub=None):
    env = {k: v for k, v in os.environ.items() if k not in ("GREENCQL_HUB", "GREENCQL_TEST_HUB")}
    if env_hub:
        env["GREENCQL_HUB"] = env_hub
    code = "import warnings\nwarnings.simplefilter('ignore')\n" + prelude + "\n" + _REPORT
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_nothing_patched_is_thread_and_imports_no_hub_library():
    assert _run("import greencql, greencql.hubs") == {
        "hub": "thread",
        "gevent": False,
        "eventlet": False,
    }


def test_gevent_patched_after_greencql_import_is_gevent():
    # gunicorn --preload: the app (and greencql) is imported before the worker patches
    got = _run("import greencql.hubs\nfrom gevent import monkey; monkey.patch_all()")
    assert got["hub"] == "gevent"
    assert got["eventlet"] is False


def test_eventlet_patched_is_eventlet():
    got = _run("import eventlet; eventlet.monkey_patch()")
    assert got["hub"] == "eventlet"


def test_imported_but_not_patched_is_thread():
    got = _run("import gevent, eventlet")
    assert got["hub"] == "thread"


def test_env_switch_wins_over_detection():
    got = _run("from gevent import monkey; monkey.patch_all()", env_hub="thread")
    assert got["hub"] == "thread"


def test_env_switch_selects_a_hub():
    got = _run("", env_hub="gevent")
    assert got == {"hub": "gevent", "gevent": True, "eventlet": False}


def test_explicit_name_and_caching(monkeypatch):
    monkeypatch.setenv("GREENCQL_HUB", "eventlet")
    assert get_hub("thread").name == "thread"  # explicit beats the environment
    assert get_hub("thread") is get_hub("THREAD")


def test_unknown_name_is_a_hub_error(monkeypatch):
    with pytest.raises(HubError):
        get_hub("asyncio")
    monkeypatch.setenv("GREENCQL_HUB", "twisted")
    with pytest.raises(HubError):
        get_hub()


def test_detection_in_this_process(hub):
    from greencql.hubs import detect_hub_name

    assert detect_hub_name() == hub.name
