"""The Django database backend ``django_greencql.backend``: a DATABASES alias whose
connection is a greencql Session, not an SQL connection (Django imports ``.base``)."""
