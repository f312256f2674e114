"""The cart core: the only code that writes the cart tables (carts_cart,
carts_cartitem). `aggregate` states the rules every change keeps (lock first,
record every change); `items` (the API's and gRPC's writes), `merge`,
`expiry` and `owners` change carts through it; `reads` reads them; `sql`
holds the statements."""
