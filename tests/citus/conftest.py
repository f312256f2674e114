"""tests/citus: the suite's Citus-only tests, on a Citus cluster's coordinator.

Collected only when scripts/citus-check runs them against its cluster
(CART_CITUS=1); on plain PostgreSQL they would have nothing to test.
tests/citus/stack needs the cluster's compose stack (CART_CITUS_STACK=1)."""

import os

collect_ignore_glob = [] if os.environ.get("CART_CITUS") else ["test_*.py"]
