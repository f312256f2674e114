"""Cart events: the outbox every change of a cart writes (carts.models.CartEvent,
written by carts.cart.aggregate's record), the feed that reads it in a total
order (feed.py), and their delivery to webhooks."""
