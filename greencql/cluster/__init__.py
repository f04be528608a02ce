"""greencql.cluster."""
