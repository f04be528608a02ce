"""greencql.hubs."""
