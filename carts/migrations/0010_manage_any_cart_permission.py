"""The API's staff powers become a permission, carts.manage_any_cart
(carts.auth.powers): existing staff accounts get it, so they keep working;
`is_staff` alone now only opens the admin.

Token authentication caches whether a user holds it (carts.auth.token_cache),
so on PostgreSQL every change of who holds a permission (a user's own, their
groups, a group's) announces itself as changes to users and tokens do
(migration 0002's function).
"""

from django.db import migrations

THROUGH_TABLES = {
    "carts_user_permissions_changed": "carts_user_user_permissions",
    "carts_user_groups_changed": "carts_user_groups",
    "carts_group_permissions_changed": "auth_group_permissions",
}

FORWARD = "".join(
    f"""
CREATE TRIGGER {trigger}
  AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
  FOR EACH STATEMENT EXECUTE FUNCTION carts_notify_auth_changed();"""
    for trigger, table in THROUGH_TABLES.items()
)

# Listening connections stop caching when told the triggers are gone.
BACKWARD = "".join(
    f"\nDROP TRIGGER {trigger} ON {table};" for trigger, table in THROUGH_TABLES.items()
) + "\nSELECT pg_notify('carts_auth_changed', 'closed');"


def on_postgresql(sql: str):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


def grant_to_staff(apps, schema_editor) -> None:
    """Every staff account holds the permission, as it held the powers."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    User = apps.get_model("carts", "User")
    content_type, _ = ContentType.objects.get_or_create(app_label="carts", model="cart")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="manage_any_cart",
        defaults={"name": "Can read and change any cart (API)"},
    )
    for user in User.objects.filter(is_staff=True):
        user.user_permissions.add(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("carts", "0009_checkout"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="cart",
            options={
                "ordering": ["-updated_at", "user"],
                "permissions": [
                    ("manage_any_cart", "Can read and change any cart (API)")
                ],
            },
        ),
        migrations.RunPython(grant_to_staff, migrations.RunPython.noop),
        migrations.RunPython(on_postgresql(FORWARD), on_postgresql(BACKWARD)),
    ]
