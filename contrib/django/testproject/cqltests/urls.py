"""Views of the session tests: who is logged in, and a counter kept in the session."""

from django.http import HttpRequest, JsonResponse
from django.urls import path


def whoami(request: HttpRequest) -> JsonResponse:
    user = request.user
    return JsonResponse({"user": user.get_username() if user.is_authenticated else None})


def bump(request: HttpRequest) -> JsonResponse:
    request.session["n"] = request.session.get("n", 0) + 1
    return JsonResponse({"n": request.session["n"]})


urlpatterns = [path("whoami/", whoami), path("bump/", bump)]
