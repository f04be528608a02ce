"""The django_greencql example project: a shop whose items live in Cassandra."""
