"""URLs of the example project."""

from django.urls import path

from shop import views

urlpatterns = [
    path("items/", views.items),
    path("items/<int:item_id>/", views.item),
    path("cart/add/<int:item_id>/", views.add_to_cart),
    path("cart/", views.cart),
    path("status/", views.status),
]
