"""greencql.pool."""
