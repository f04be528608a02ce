"""The shop app: items in Cassandra (cql_migrations/), a cart in the session, a cached counter."""
