"""gRPC <-> service translation: check the request, call one function, answer.

Carts for any id: the first AddItem to an unknown id creates a guest (an
Online Boutique session id), which manage.py purge_carts expires when stale.
"""

import grpc

from ..cart import items, reads
from ..cart.owners import NewOwner, new_owner_for
from ..domain import rules
from ..domain.errors import CartError, ErrorKind
from . import cart_pb2, cart_pb2_grpc

SERVICE_NAME = cart_pb2.DESCRIPTOR.services_by_name["CartService"].full_name


class FieldRequired(CartError):
    """proto3 cannot tell an empty string from a missing one: both are refused."""

    kind = ErrorKind.INVALID
    code = "required"
    message = "{field} is required."


class CartServicer(cart_pb2_grpc.CartServiceServicer):
    """The three calls; errors are raised, carts.grpc.calls answers them."""

    def AddItem(
        self, request: cart_pb2.AddItemRequest, context: grpc.ServicerContext
    ) -> cart_pb2.Empty:
        if not request.user_id:
            raise FieldRequired(field="user_id")
        if not request.item.product_id:
            raise FieldRequired(field="item.product_id")
        rules.check_user_id_storable(request.user_id)
        rules.check_product_id(request.item.product_id, field="item.product_id")
        items.cart_item_add(
            user_id=request.user_id,
            product_id=request.item.product_id,
            quantity=request.item.quantity,
            new_owner=new_owner_for(staff=True, kind=NewOwner.GUEST),
        )
        return cart_pb2.Empty()

    def GetCart(
        self, request: cart_pb2.GetCartRequest, context: grpc.ServicerContext
    ) -> cart_pb2.Cart:
        rules.check_user_id_storable(request.user_id)
        cart = reads.cart_get(user_id=request.user_id)
        if not cart.items:
            # Online Boutique's own cart service answers an empty cart so.
            return cart_pb2.Cart()
        return cart_pb2.Cart(
            user_id=cart.user_id,
            items=[
                cart_pb2.CartItem(product_id=item.product_id, quantity=item.quantity)
                for item in cart.items
            ],
        )

    def EmptyCart(
        self, request: cart_pb2.EmptyCartRequest, context: grpc.ServicerContext
    ) -> cart_pb2.Empty:
        rules.check_user_id_storable(request.user_id)
        items.cart_clear(user_id=request.user_id, user_known=False)
        return cart_pb2.Empty()
