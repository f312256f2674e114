def test_admin_lists_the_three_models_for_staff(client, django_user_model, catalog):
    operator = django_user_model.objects.create_superuser(
        "operator", password="pw-12345"
    )
    client.force_login(operator)

    for path in [
        "/admin/carts/user/",
        "/admin/carts/product/",
        "/admin/carts/cartitem/",
    ]:
        assert client.get(path).status_code == 200, path
