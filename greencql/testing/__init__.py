"""greencql.testing."""
