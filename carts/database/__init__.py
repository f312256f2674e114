"""The database connection's behaviour, in one home: bounded waits and the
bulkhead (`guard`), what the server sends on an idle connection and the
health check that reads it (`notifications`), readiness (`readiness`), and
the PostgreSQL backend that wires them into Django (`postgresql`, the ENGINE).

Dependencies point one way: the backend uses guard and notifications;
features that want notifications (the token cache, carts.auth) register a
listener with `notifications` when the app is ready; nothing here imports
them."""
