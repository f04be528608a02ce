"""The rest of cassandra-driver's Cluster, Session and ResponseFuture surface that
applications touch: pool sizing getters/setters, the control host, STARTUP options
(application name/version, client id, NO_COMPACT), request init listeners, pool state,
``submit``, ``clear_callbacks`` and the future's attributes."""

from __future__ import annotations

import uuid

from compat_fixtures import *  # noqa: F403 (the fixtures)

from greencql import Cluster, HostDistance


def test_cluster_surface(sim):
    client_id = uuid.uuid4()
    with Cluster(sim.contact_points, port=sim.port, hub=sim.hub, application_name="shop",
                 application_version="1.2", client_id=client_id, no_compact=True,
                 status_event_refresh_window=0.5, connect_to_remote_hosts=False) as cluster:
        session = cluster.connect()
        assert session.execute("SELECT release_version FROM system.local").one()
        options = cluster._connection_options(None).startup_options
        assert options == {"APPLICATION_NAME": "shop", "APPLICATION_VERSION": "1.2",
                           "CLIENT_ID": str(client_id), "NO_COMPACT": "true"}
        assert cluster.get_control_connection_host() in cluster.metadata.all_hosts()
        assert cluster.get_core_connections_per_host(HostDistance.LOCAL) == 1
        cluster.set_max_connections_per_host(HostDistance.LOCAL, 4)
        cluster.set_core_connections_per_host(HostDistance.LOCAL, 2)
        assert cluster.get_max_connections_per_host(HostDistance.LOCAL) == 4
        assert cluster.get_core_connections_per_host(HostDistance.LOCAL) == 2
        assert cluster.listeners == set()


def test_session_surface(cluster, session, hub):
    seen = []
    session.add_request_init_listener(lambda f, tag: seen.append((tag, f.query)), "mine")
    session.execute("SELECT release_version FROM system.local")
    assert [tag for tag, _ in seen] == ["mine"]
    session.remove_request_init_listener(seen.append)  # not registered: nothing happens
    listener = session._request_init_listeners[0]
    session.remove_request_init_listener(listener[0], *listener[1])
    session.execute("SELECT release_version FROM system.local")
    assert len(seen) == 1
    assert isinstance(session.session_id, uuid.UUID) and session.session_id == session.session_id
    (host,) = session.hosts
    state = session.get_pool_state()[host]
    assert state["shutdown"] is False and state["open_count"] >= 1
    assert len(session.get_pools()) == 1
    task = session.submit(lambda x: x * 2, 21)
    assert task.join(5)
    assert session.max_trace_wait > 0
    assert session.timestamp_generator is cluster.timestamp_generator
    assert session.prepare_on_all_hosts is True


def test_future_surface(session, hub):
    ps = session.prepare("SELECT release_version FROM system.local WHERE key = ?")
    future = session.execute_async(ps, ["local"])
    assert future.session is session and future.prepared_statement is ps
    assert future.row_factory is not None and future.default_timeout == future.timeout
    future.result()


def test_clear_callbacks(session, hub):
    """After clear_callbacks, the next page runs only the callbacks added since."""
    from greencql.query import SimpleStatement

    future = session.execute_async(SimpleStatement("SELECT * FROM system_schema.columns",
                                                   fetch_size=5))
    future.result()
    assert future.has_more_pages
    first, second, done = [], [], hub.event()
    future.add_callback(lambda rows: first.append(len(rows)))  # done already: runs now
    assert first == [5]
    future.clear_callbacks()
    future.add_callback(lambda rows: (second.append(len(rows)), done.set()))
    assert second == [5]  # also ran at once (the page was there)
    done.clear()
    future.start_fetching_next_page()
    assert done.wait(10)
    assert first == [5] and second == [5, 5]
