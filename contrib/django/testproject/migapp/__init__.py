"""An app whose cql_migrations folder the migration tests point at a temporary directory."""
