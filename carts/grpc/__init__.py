"""Online Boutique's gRPC interface (hipstershop.CartService) to the same carts
as the REST API: the .proto and its generated modules, the servicer, the
mapping of errors to status codes, the database health, the server."""
