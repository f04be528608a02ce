"""django_greencql's tests, run by Django's test runner (``manage.py test`` here)."""
