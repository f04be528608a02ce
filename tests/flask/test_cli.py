"""``flask cql``: exec (a .cql file statement by statement), ping (each host, its DC, the
round-trip time) and shell (cqlsh, in a child process), against the simulated cluster."""

from __future__ import annotations

# isort: off
from flask_helpers import CONTRIB, EXAMPLE, ROOT, SCHEMA, sim_config  # first: sys.path

import os
import re
import subprocess
import sys

import pytest
from flask import Flask

from flask_greencql import GreenCQL
from flask_greencql.cli import CQLScriptError, cqlsh_command, split_statements
# isort: on


def test_split_statements_handles_comments_strings_and_lines():
    script = """
    -- a comment; with a semicolon
    CREATE KEYSPACE IF NOT EXISTS k WITH replication =
        {'class': 'SimpleStrategy', 'replication_factor': 1};  // trailing; comment
    /* a block
       comment; */ INSERT INTO k.t (a, b) VALUES ('it''s; fine', "x"";y");
    SELECT $$ a; b $$ FROM t
    """
    statements = split_statements(script)
    assert statements == [
        "CREATE KEYSPACE IF NOT EXISTS k WITH replication =\n"
        "        {'class': 'SimpleStrategy', 'replication_factor': 1}",
        "INSERT INTO k.t (a, b) VALUES ('it''s; fine', \"x\"\";y\")",
        "SELECT $$ a; b $$ FROM t",
    ]
    assert split_statements("  ;; -- nothing\n") == []


@pytest.mark.parametrize("bad", ["SELECT 'open", 'SELECT "open', "/* open", "SELECT $$ x"])
def test_split_statements_refuses_unterminated(bad):
    with pytest.raises(CQLScriptError, match="unterminated"):
        split_statements(bad)


@pytest.fixture
def app(sim_cluster):
    app = Flask("cli")
    app.config.update(sim_config(sim_cluster))
    cql = GreenCQL(app)
    yield app
    cql.shutdown()


def test_exec_applies_a_schema_file_statement_by_statement(app, sim_cluster):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["cql", "exec", str(SCHEMA)])
    assert result.exit_code == 0, result.output
    assert "-- [1/3]" in result.output and "-- [3/3]" in result.output
    assert "CREATE TABLE IF NOT EXISTS shortener.visits (" in result.output
    assert "-- 3 statement(s) applied" in result.output
    assert "// the short code" not in result.output  # comments are not sent
    queries = [r.query for r in sim_cluster.records(kind="QUERY") if r.query
               and "shortener" in r.query]
    assert any(q.startswith("CREATE KEYSPACE IF NOT EXISTS shortener") for q in queries)
    # IF NOT EXISTS: applying it again is fine
    again = runner.invoke(args=["cql", "exec", str(SCHEMA)])
    assert again.exit_code == 0, again.output


def test_exec_stops_at_the_first_error(app, tmp_path):
    script = tmp_path / "bad.cql"
    script.write_text("CREATE KEYSPACE IF NOT EXISTS k1 WITH replication = "
                      "{'class': 'SimpleStrategy', 'replication_factor': 1};\n"
                      "CREATE TABLE k1.t (a int PRIMARY KEY, b nosuchtype);\n"
                      "CREATE TABLE k1.never (a int PRIMARY KEY);\n")
    result = app.test_cli_runner().invoke(args=["cql", "exec", str(script)])
    assert result.exit_code == 1
    assert "statement 2 of" in result.output
    assert "k1.never" not in result.output
    unterminated = tmp_path / "open.cql"
    unterminated.write_text("SELECT 'open")
    result = app.test_cli_runner().invoke(args=["cql", "exec", str(unterminated)])
    assert result.exit_code == 1 and "unterminated string" in result.output


def test_ping_reports_each_host_its_dc_and_round_trip(app, sim_cluster):
    result = app.test_cli_runner().invoke(args=["cql", "ping"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == len(sim_cluster.nodes)
    for line, node in zip(lines, sorted(sim_cluster.nodes, key=lambda n: n.address), strict=True):
        assert re.fullmatch(rf"{re.escape(node.address)}  dc={node.dc}  \d+\.\d\d ms", line), line
    sim_cluster.node(3).stop()
    result = app.test_cli_runner().invoke(args=["cql", "ping", "--timeout", "2"])
    assert result.exit_code == 1
    assert "DOWN" in result.output


def test_shell_runs_cqlsh_and_commands_run_in_a_process_of_their_own():
    from greencql.testing import SimCluster

    with SimCluster.spawn_process(1) as sim:
        app = Flask("shell")
        app.config.update(sim_config(sim, GREENCQL_KEYSPACE="system"))
        GreenCQL(app)
        with app.app_context():
            command = cqlsh_command(app.extensions["greencql"].settings(), ["-e", "x"])
        assert command[1:] == [sim.contact_points[0], str(sim.port), "-k", "system", "-e", "x"]
        # the real command, `flask cql shell -e ...`, in a child process as a user runs it
        env = dict(os.environ, FLASK_GREENCQL_PORT=str(sim.port), FLASK_GREENCQL_KEYSPACE=
                   "system", PYTHONPATH=os.pathsep.join([str(ROOT), str(CONTRIB), str(EXAMPLE)]))
        env.pop("GREENCQL_TEST_HUB", None)
        done = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "shortener", "cql", "shell",
             "-e", "SELECT cluster_name FROM local;"],
            capture_output=True, text=True, timeout=60, env=env, cwd=str(EXAMPLE))
        assert done.returncode == 0, done.stderr
        assert "cluster_name" in done.stdout and "greencql" in done.stdout
        # a CLI process that connected exits by itself (its Cluster is shut down at exit)
        done = subprocess.run([sys.executable, "-m", "flask", "--app", "shortener", "cql",
                               "ping"], capture_output=True, text=True, timeout=60, env=env,
                              cwd=str(EXAMPLE))
        assert done.returncode == 0, done.stderr
        assert "dc=datacenter1" in done.stdout


def test_shell_command_line_carries_credentials_tls_and_version(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("not read here")
    app = Flask("shell-args")
    app.config.update(GREENCQL_CONTACT_POINTS="10.0.0.7, 10.0.0.8", GREENCQL_PORT=9043,
                      GREENCQL_USERNAME="ann", GREENCQL_PASSWORD="secret",
                      GREENCQL_SSL_CA_FILE=str(ca), GREENCQL_PROTOCOL_VERSION=4)
    GreenCQL(app)
    with app.app_context():
        command = cqlsh_command(app.extensions["greencql"].settings())
    assert command[1:] == ["10.0.0.7", "9043", "-u", "ann", "-p", "secret", "--ssl",
                           "--protocol-version=4"]
