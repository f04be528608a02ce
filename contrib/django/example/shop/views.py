"""Views of the shop: they read and write Cassandra through the process's greencql session,
keep a cart in the (Cassandra) session and count visits in the (Cassandra) cache."""

from __future__ import annotations

import json
import os

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from django_greencql import get_session


def _item_dict(row) -> dict:
    return {"id": row.id, "name": row.name, "price_cents": row.price_cents}


@csrf_exempt
def items(request: HttpRequest) -> HttpResponse:
    """GET: every item. POST {"id", "name", "price_cents"}: add one."""
    session = get_session()
    if request.method == "POST":
        data = json.loads(request.body)
        insert = session.prepare("INSERT INTO items (id, name, price_cents) VALUES (?, ?, ?)")
        session.execute(insert, (int(data["id"]), str(data["name"]), int(data["price_cents"])))
        cache.delete("item-count")
        return JsonResponse({"created": int(data["id"])}, status=201)
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    rows = session.execute("SELECT id, name, price_cents FROM items")
    return JsonResponse({"items": sorted((_item_dict(r) for r in rows), key=lambda i: i["id"])})


def item(request: HttpRequest, item_id: int) -> HttpResponse:
    select = get_session().prepare("SELECT id, name, price_cents FROM items WHERE id = ?")
    row = get_session().execute(select, (item_id,)).one()
    if row is None:
        return JsonResponse({"error": "no such item"}, status=404)
    return JsonResponse(_item_dict(row))


def add_to_cart(request: HttpRequest, item_id: int) -> HttpResponse:
    cart = request.session.get("cart", [])
    cart.append(item_id)
    request.session["cart"] = cart
    return JsonResponse({"cart": cart})


def cart(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"cart": request.session.get("cart", [])})


def status(request: HttpRequest) -> HttpResponse:
    """Which process answered, and proof that it reached Cassandra, the cache and sessions."""
    row = get_session().execute("SELECT release_version FROM system.local").one()
    request.session["seen"] = request.session.get("seen", 0) + 1
    if request.session.session_key is None:
        request.session.save()
    key = f"visits:{request.session.session_key}"
    cache.add(key, 0, 3600)
    visits = cache.incr(key)
    return JsonResponse({"pid": os.getpid(), "release_version": row[0], "visits": visits,
                         "seen": request.session["seen"]})
