"""Online Boutique's hipstershop.CartService (API.md v2, "gRPC"): a real
`manage.py grpcserve` on a free port, on the test database, called over a real
HTTP/2 channel; REST and the admin read and write the same carts."""

import re
import signal
import subprocess
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import psycopg2
import pytest
from django.db import connection
from django.utils import timezone
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from carts.cart.checkout import checkout_hold
from carts.cart.owners import NewOwner, owner_cart_ensure
from carts.grpc.cart_pb2 import (
    AddItemRequest,
    Cart,
    CartItem,
    Empty,
    EmptyCartRequest,
    GetCartRequest,
)
from carts.models import Cart as CartRow
from carts.models import CartItem as CartLine
from carts.models import Product, User
from devtools.liveservice import ROOT, GrpcServer
from devtools.pgcluster import free_port

from .conftest import cart_lines, database_url_for_tests

pytestmark = pytest.mark.django_db(transaction=True)

LOAFERS, MUG, SUNGLASSES = "L9ECAV7KIM", "6E92ZMYYFZ", "OLJCESPC7Z"


@pytest.fixture(scope="module")
def server(django_db_setup, tmp_path_factory):
    """One server for the module; each test starts from an empty database."""
    directory = tmp_path_factory.mktemp("grpc")
    with GrpcServer(database_url_for_tests(), directory) as server:
        yield server


def session_id() -> str:
    """An id as Online Boutique's front end makes them: a session UUID."""
    return str(uuid.uuid4())


def add(server, user_id: str, product_id: str, quantity: int = 1) -> Empty:
    item = CartItem(product_id=product_id, quantity=quantity)
    return server.cart.AddItem(AddItemRequest(user_id=user_id, item=item), timeout=30)


def get(server, user_id: str) -> Cart:
    return server.cart.GetCart(GetCartRequest(user_id=user_id), timeout=30)


def refusal(call) -> tuple[grpc.StatusCode, str | None, str]:
    """The status, details and `error-code` of a call that must fail."""
    with pytest.raises(grpc.RpcError) as raised:
        call()
    error: Any = raised.value  # a grpc.Call too, which the stubs cannot say
    metadata = error.trailing_metadata()
    codes = [item.value for item in metadata if item.key == "error-code"]
    return error.code(), error.details(), codes[0]


# Online Boutique's own cart service tests (src/cartservice/tests/CartServiceTests.cs)


def test_get_cart_before_any_add_is_an_empty_cart(server, catalog):
    cart = get(server, session_id())

    assert cart == Cart()
    assert cart.user_id == ""
    assert list(cart.items) == []


def test_adding_one_product_twice_gives_one_line_with_both_quantities(server, catalog):
    user_id = session_id()

    add(server, user_id, "66VCHSJNUP", 1)
    add(server, user_id, "66VCHSJNUP", 1)

    cart = get(server, user_id)
    assert cart.user_id == user_id
    assert [(item.product_id, item.quantity) for item in cart.items] == [
        ("66VCHSJNUP", 2)
    ]


def test_empty_cart_after_an_add_leaves_no_items(server, catalog):
    user_id = session_id()
    add(server, user_id, "OLJCESPC7Z", 1)

    assert server.cart.EmptyCart(EmptyCartRequest(user_id=user_id)) == Empty()

    assert get(server, user_id) == Cart()


# The contract beyond them


def test_an_unknown_id_becomes_a_guest_whose_lines_come_in_add_order(server, catalog):
    user_id = session_id()

    for product_id, quantity in [(SUNGLASSES, 2), (LOAFERS, 5), (SUNGLASSES, 1)]:
        add(server, user_id, product_id, quantity)

    cart = get(server, user_id)
    assert [(item.product_id, item.quantity) for item in cart.items] == [
        (SUNGLASSES, 3),
        (LOAFERS, 5),
    ]
    assert User.objects.get(username=user_id).is_guest


def test_empty_cart_is_idempotent_for_any_id_and_creates_nothing(server, catalog):
    users = User.objects.count()

    for user_id in [session_id(), "", "not a username"]:
        for _ in range(2):
            assert server.cart.EmptyCart(EmptyCartRequest(user_id=user_id)) == Empty()
        assert get(server, user_id) == Cart()

    assert User.objects.count() == users


@pytest.mark.parametrize(
    ("user_id", "product_id", "quantity", "status", "code", "details"),
    [
        ("", LOAFERS, 1, "INVALID_ARGUMENT", "required", "user_id is required."),
        ("u1", "", 1, "INVALID_ARGUMENT", "required", "item.product_id is required."),
        (
            *("u1", LOAFERS, 0, "INVALID_ARGUMENT", "invalid_quantity"),
            "The quantity must be at least 1, not 0.",
        ),
        (
            *("u1", LOAFERS, -3, "INVALID_ARGUMENT", "invalid_quantity"),
            "The quantity must be at least 1, not -3.",
        ),
        (
            *("not a username", LOAFERS, 1, "INVALID_ARGUMENT", "invalid_user_id"),
            "'not a username' cannot be a user id: at most 150 letters, digits "
            "and @.+-_.",
        ),
        (
            *("u1", "NOPE", 1, "NOT_FOUND", "product_not_found"),
            "Product 'NOPE' does not exist.",
        ),
        (
            *("u1", LOAFERS, 1001, "FAILED_PRECONDITION", "quantity_limit_exceeded"),
            "A cart line may hold at most 1000 units.",
        ),
    ],
)
def test_a_refused_add_is_a_status_with_a_clear_message_and_changes_nothing(
    server, catalog, user_id, product_id, quantity, status, code, details
):
    users = User.objects.count()

    refused = refusal(lambda: add(server, user_id, product_id, quantity))

    assert refused == (getattr(grpc.StatusCode, status), details, code)
    assert User.objects.count() == users
    assert CartLine.objects.count() == 0


LONG_USER_ID, LONG_PRODUCT_ID = "u" * 5000, "P" * 5000
INVALID_ID = "cannot be a user id: at most 150 letters, digits and @.+-_."


@pytest.mark.parametrize(
    ("user_id", "product_id", "code", "details"),
    [
        (
            *("al\x00ice", LOAFERS, "invalid_user_id"),
            f"'al\ufffdice' {INVALID_ID}",
        ),
        (
            *(LONG_USER_ID, LOAFERS, "invalid_user_id"),
            f"'{'u' * 150}…' {INVALID_ID}",
        ),
        (
            *("u1", "A\x00B", "null_characters_not_allowed"),
            "item.product_id may not hold a NUL character.",
        ),
        (
            *("u1", LONG_PRODUCT_ID, "max_length"),
            "item.product_id may hold at most 64 characters.",
        ),
    ],
)
def test_an_add_with_an_id_no_column_can_hold_is_invalid_echoing_at_most_the_limit(
    server, catalog, user_id, product_id, code, details
):
    refused = refusal(lambda: add(server, user_id, product_id))

    assert refused == (grpc.StatusCode.INVALID_ARGUMENT, details, code)
    assert CartLine.objects.count() == 0
    assert "Traceback" not in server.log()


@pytest.mark.parametrize("user_id", ["al\x00ice", LONG_USER_ID])
def test_get_and_empty_cart_refuse_an_id_no_column_can_hold(server, catalog, user_id):
    calls = [
        lambda: get(server, user_id),
        lambda: server.cart.EmptyCart(EmptyCartRequest(user_id=user_id), timeout=30),
    ]

    for call in calls:
        status, details, code = refusal(call)
        assert (status, code) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_user_id")
        assert len(details) <= 150 + len(f"'…' {INVALID_ID}")
    assert "Traceback" not in server.log()


def test_an_add_past_the_quantity_limit_is_refused_and_changes_nothing(server, catalog):
    user_id = session_id()
    add(server, user_id, LOAFERS, 999)

    refused = refusal(lambda: add(server, user_id, LOAFERS, 2))

    assert refused == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "A cart line may hold at most 1000 units.",
        "quantity_limit_exceeded",
    )
    add(server, user_id, LOAFERS, 1)
    assert cart_lines(user_id) == [(LOAFERS, 1000)]


def test_a_cart_held_for_checkout_refuses_changes_and_still_reads(server, catalog):
    user_id = session_id()
    add(server, user_id, LOAFERS, 2)
    checkout_hold(user_id=user_id)

    refusals = [
        refusal(lambda: add(server, user_id, MUG)),
        refusal(lambda: add(server, user_id, LOAFERS)),
        refusal(lambda: server.cart.EmptyCart(EmptyCartRequest(user_id=user_id))),
    ]

    assert [(code, error_code) for code, _, error_code in refusals] == [
        (grpc.StatusCode.FAILED_PRECONDITION, "cart_in_checkout")
    ] * 3
    cart = get(server, user_id)
    assert [(item.product_id, item.quantity) for item in cart.items] == [(LOAFERS, 2)]


def test_a_new_line_past_the_line_limit_is_refused(server, catalog):
    user_id = session_id()
    owner_cart_ensure(user_id=user_id, new_owner=NewOwner.GUEST)
    products = Product.objects.bulk_create(
        Product(id=f"P{number:03}", name=f"Product {number}", price="1.00")
        for number in range(100)
    )
    CartLine.objects.bulk_create(
        CartLine(user=User.objects.get(username=user_id), product=product, quantity=1)
        for product in products
    )

    refused = refusal(lambda: add(server, user_id, LOAFERS))

    assert refused == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "A cart may hold at most 100 lines.",
        "cart_line_limit_exceeded",
    )
    add(server, user_id, "P042", 4)  # an existing line still takes units
    assert len(get(server, user_id).items) == 100
    assert ("P042", 5) in cart_lines(user_id)


def test_an_add_to_a_guest_merged_into_another_cart_is_a_failed_precondition(
    server, catalog
):
    user_id = session_id()
    add(server, user_id, LOAFERS)
    CartRow.objects.filter(user__username=user_id).update(
        merged_into=User.objects.create(username="shopper"), merged_at=timezone.now()
    )

    refused = refusal(lambda: add(server, user_id, MUG))

    assert refused == (
        grpc.StatusCode.FAILED_PRECONDITION,
        f"The guest cart '{user_id}' was merged into another cart.",
        "guest_already_merged",
    )


def test_a_cart_written_over_grpc_is_the_same_cart_over_rest_and_in_the_admin(
    server, staff, admin_client
):
    user_id = session_id()
    add(server, user_id, SUNGLASSES, 2)
    add(server, user_id, LOAFERS, 3)

    answer = staff.get(f"/cart/{user_id}")
    assert answer.status_code == 200
    assert answer.json()["user_id"] == user_id
    assert [
        (line["product_id"], line["quantity"]) for line in answer.json()["items"]
    ] == [
        (SUNGLASSES, 2),
        (LOAFERS, 3),
    ]
    user = User.objects.get(username=user_id)
    page = admin_client.get(f"/admin/carts/user/{user.pk}/change/").text
    assert page.index(f"{SUNGLASSES} Sunglasses") < page.index(f"{LOAFERS} Loafers")
    guests = admin_client.get("/admin/carts/user/", {"is_guest__exact": "1"})
    assert [row.username for row in guests.context["cl"].result_list] == [user_id]

    server.cart.EmptyCart(EmptyCartRequest(user_id=user_id))
    assert staff.get(f"/cart/{user_id}").json()["items"] == []


def test_a_cart_written_over_rest_and_in_the_admin_is_the_same_over_grpc(
    server, staff, admin_client
):
    user_id = session_id()
    added = staff.post(
        f"/cart/{user_id}", {"product_id": MUG, "quantity": 4}, format="json"
    )
    assert added.status_code == 201
    user = User.objects.get(username=user_id)
    created = admin_client.post(
        "/admin/carts/cartitem/add/",
        {"user": user.pk, "product": LOAFERS, "quantity": 7},
    )
    assert created.status_code == 302

    cart = get(server, user_id)
    assert cart.user_id == user_id
    assert [(item.product_id, item.quantity) for item in cart.items] == [
        (MUG, 4),
        (LOAFERS, 7),
    ]

    assert staff.delete(f"/cart/{user_id}").status_code == 204
    assert get(server, user_id) == Cart()


def test_200_concurrent_adds_from_many_channels_lose_nothing(server, catalog):
    user_id = session_id()
    # Own connections (no shared subchannel pool), all open before the burst.
    channels = [
        grpc.insecure_channel(
            server.address, options=[("grpc.use_local_subchannel_pool", 1)]
        )
        for _ in range(20)
    ]
    for channel in channels:
        grpc.channel_ready_future(channel).result(timeout=30)
    stubs = [server.stub_for(channel) for channel in channels]
    barrier = threading.Barrier(len(stubs))
    item = CartItem(product_id=LOAFERS, quantity=1)

    def burst(stub) -> list[grpc.StatusCode]:
        barrier.wait(timeout=60)
        calls = [
            stub.AddItem.future(AddItemRequest(user_id=user_id, item=item), timeout=60)
            for _ in range(10)
        ]
        return [call.code() for call in calls]

    try:
        with ThreadPoolExecutor(len(stubs)) as pool:
            codes = [code for each in pool.map(burst, stubs) for code in each]
    finally:
        for channel in channels:
            channel.close()

    assert codes == [grpc.StatusCode.OK] * 200
    assert cart_lines(user_id) == [(LOAFERS, 200)]
    assert [
        (item.product_id, item.quantity) for item in get(server, user_id).items
    ] == [(LOAFERS, 200)]


def test_health_is_serving_for_both_names_and_unknown_names_are_not_found(server):
    assert server.health_status("") == "SERVING"
    assert server.health_status("hipstershop.CartService") == "SERVING"
    with pytest.raises(grpc.RpcError) as raised:
        server.health_status("hipstershop.Nope")
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_the_container_probe_passes_while_serving_and_fails_when_nothing_listens(
    server,
):
    def probe(address: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "carts.grpc.probe", address],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )

    assert probe(server.address).returncode == 0
    refused = probe(f"127.0.0.1:{free_port()}")
    assert refused.returncode == 1
    assert refused.stderr.startswith("probe: UNAVAILABLE")


def test_a_port_in_use_is_a_clear_error(server):
    result = subprocess.run(
        [sys.executable, "manage.py", "grpcserve", "--port", str(server.port)],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert (
        f"CommandError: cannot listen on 127.0.0.1:{server.port}: the port is in "
        "use, or the address is not one of this host's"
    ) in result.stderr


def test_reflection_lists_the_services_and_describes_the_cart_service(server):
    reflected = ProtoReflectionDescriptorDatabase(server.channel)

    assert set(reflected.get_services()) == {
        "hipstershop.CartService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    described = reflected.FindFileContainingSymbol("hipstershop.CartService")
    (service,) = described.service
    assert [
        (method.name, method.input_type, method.output_type)
        for method in service.method
    ] == [
        ("AddItem", ".hipstershop.AddItemRequest", ".hipstershop.Empty"),
        ("GetCart", ".hipstershop.GetCartRequest", ".hipstershop.Cart"),
        ("EmptyCart", ".hipstershop.EmptyCartRequest", ".hipstershop.Empty"),
    ]


def test_every_call_writes_one_access_log_line(server, catalog):
    logged = len(server.log().splitlines())

    add(server, "logged", LOAFERS)
    refusal(lambda: add(server, "logged", "NOPE"))
    get(server, "logged")

    lines = server.log().splitlines()[logged:]
    pattern = (
        r"^INFO carts\.grpc\.access request_id=- "
        r'ipv4:127\.0\.0\.1:\d+ "/hipstershop\.CartService/(\w+)" (\w+) [\d.]+ms$'
    )
    calls = [re.match(pattern, line) for line in lines]
    assert all(calls), lines
    assert [call.groups() for call in calls] == [
        ("AddItem", "OK"),
        ("AddItem", "NOT_FOUND"),
        ("GetCart", "OK"),
    ]


def test_sigterm_lets_a_call_in_flight_finish_and_refuses_new_ones(catalog, tmp_path):
    user_id = session_id()
    with GrpcServer(database_url_for_tests(), tmp_path) as server:
        add(server, user_id, LOAFERS)
        # Hold the cart's row: the next add waits for it, in flight.
        blocker = psycopg2.connect(database_url_for_tests())
        try:
            with blocker.cursor() as cursor:
                cursor.execute(
                    "SELECT 1 FROM carts_cart k JOIN carts_user u ON u.id = k.user_id"
                    " WHERE u.username = %s FOR UPDATE",
                    [user_id],
                )
            in_flight = server.cart.AddItem.future(
                AddItemRequest(
                    user_id=user_id, item=CartItem(product_id=LOAFERS, quantity=4)
                ),
                timeout=60,
            )
            server.wait_until(waiting_for_a_lock)

            server.process.send_signal(signal.SIGTERM)
            server.wait_until(lambda: refused_as_unavailable(server))
            assert not in_flight.done()
            blocker.commit()
        finally:
            blocker.close()

        assert in_flight.result(timeout=30) == Empty()
        assert server.process.wait(timeout=30) == 0
    assert cart_lines(user_id) == [(LOAFERS, 5)]
    assert "Stopping: no new calls" in server.log()
    assert "Traceback" not in server.log()


def waiting_for_a_lock() -> bool:
    # Not on the blocker's connection: its transaction would see one snapshot
    # of pg_stat_activity.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()"
        )
        return cursor.fetchone()[0] > 0


def refused_as_unavailable(server) -> bool:
    with grpc.insecure_channel(
        server.address, options=[("grpc.use_local_subchannel_pool", 1)]
    ) as channel:
        try:
            server.stub_for(channel).GetCart(GetCartRequest(user_id="x"), timeout=2)
        except grpc.RpcError as error:
            return error.code() == grpc.StatusCode.UNAVAILABLE
    return False
