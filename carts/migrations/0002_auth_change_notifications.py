"""Triggers that announce every change to tokens and users on PostgreSQL.

Each statement that updates, deletes or truncates rows of authtoken_token or
carts_user sends NOTIFY carts_auth_changed (one per transaction, at commit).
The connections of carts.auth.token_cache LISTEN on it to empty their
authentication cache. On other databases nothing is cached and this does
nothing. Names as in carts/auth/token_cache.py (AUTH_*).
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION carts_notify_auth_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('carts_auth_changed', '');
  RETURN NULL;
END
$$;
CREATE TRIGGER carts_token_changed
  AFTER UPDATE OR DELETE OR TRUNCATE ON authtoken_token
  FOR EACH STATEMENT EXECUTE FUNCTION carts_notify_auth_changed();
CREATE TRIGGER carts_user_changed
  AFTER UPDATE OR DELETE OR TRUNCATE ON carts_user
  FOR EACH STATEMENT EXECUTE FUNCTION carts_notify_auth_changed();
"""

# Listening connections stop caching when told the triggers are gone.
BACKWARD = """
DROP TRIGGER carts_token_changed ON authtoken_token;
DROP TRIGGER carts_user_changed ON carts_user;
DROP FUNCTION carts_notify_auth_changed();
SELECT pg_notify('carts_auth_changed', 'closed');
"""


def on_postgresql(sql: str):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("carts", "0001_initial"),
        ("authtoken", "0004_alter_tokenproxy_options"),
    ]

    operations = [
        migrations.RunPython(on_postgresql(FORWARD), on_postgresql(BACKWARD)),
    ]
