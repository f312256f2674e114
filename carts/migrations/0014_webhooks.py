"""Webhook endpoints, deliveries and attempts (carts.events).

The foreign keys cascade in the database, not in Django (DO_NOTHING): a
delete of events (purge_carts, CART_EVENT_TTL) stays one DELETE and takes
their deliveries, and those their attempts. Django 5.2 cannot declare that
on a ForeignKey, so the fields have no constraint of Django's and the SQL
below adds them:
constraints with ON DELETE CASCADE on PostgreSQL, triggers on SQLite (where
adding a constraint rebuilds the table).
"""

import carts.models
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


# (child table, column, parent table)
CASCADES = [
    ("carts_webhookdelivery", "event_id", "carts_cartevent"),
    ("carts_webhookdelivery", "endpoint_id", "carts_webhookendpoint"),
    ("carts_webhookattempt", "delivery_id", "carts_webhookdelivery"),
]


def _name(child: str, column: str) -> str:
    return f"{child}_{column}_cascade"


def add_cascades(apps, schema_editor) -> None:
    for child, column, parent in CASCADES:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                f"ALTER TABLE {child} ADD CONSTRAINT {_name(child, column)} "
                f"FOREIGN KEY ({column}) REFERENCES {parent} (id) "
                "ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED"
            )
        else:
            schema_editor.execute(
                f"CREATE TRIGGER {_name(child, column)} AFTER DELETE ON {parent} "
                f"BEGIN DELETE FROM {child} WHERE {column} = OLD.id; END"
            )


def drop_cascades(apps, schema_editor) -> None:
    for child, column, _parent in CASCADES:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                f"ALTER TABLE {child} DROP CONSTRAINT {_name(child, column)}"
            )
        else:
            schema_editor.execute(f"DROP TRIGGER {_name(child, column)}")


class Migration(migrations.Migration):

    dependencies = [
        ('carts', '0013_cart_events_notify'),
    ]

    operations = [
        migrations.CreateModel(
            name='WebhookEndpoint',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('url', models.URLField(max_length=2000, verbose_name='URL')),
                ('secret', models.CharField(default=carts.models.new_webhook_secret, help_text='Standard Webhooks secret (whsec_ and base64); the receiver verifies the signatures with it.', max_length=200)),
                ('event_types', models.JSONField(blank=True, default=list)),
                ('active', models.BooleanField(default=True)),
                ('description', models.CharField(blank=True, max_length=200)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('cursor', models.CharField(blank=True, editable=False, max_length=200)),
            ],
            options={
                'verbose_name': 'webhook endpoint',
                'ordering': ['created_at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('user_pk', models.BigIntegerField()),
                ('state', models.CharField(choices=[('pending', 'Pending'), ('delivered', 'Delivered'), ('dead', 'Dead')], default='pending', max_length=16)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('next_attempt_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('queued_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('event', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='carts.cartevent')),
                ('endpoint', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='deliveries', to='carts.webhookendpoint')),
            ],
            options={
                'verbose_name_plural': 'webhook deliveries',
                'ordering': ['-queued_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='WebhookAttempt',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('started_at', models.DateTimeField()),
                ('duration', models.FloatField(help_text='seconds')),
                ('status_code', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('response', models.TextField(blank=True, verbose_name="answer's first bytes")),
                ('error', models.CharField(blank=True, max_length=200)),
                ('delivery', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='attempt_records', to='carts.webhookdelivery')),
            ],
            options={
                'ordering': ['started_at', 'id'],
            },
        ),
        migrations.AddIndex(
            model_name='webhookdelivery',
            index=models.Index(condition=models.Q(('state', 'pending')), fields=['endpoint', 'next_attempt_at'], name='webhook_delivery_due'),
        ),
        migrations.AddIndex(
            model_name='webhookdelivery',
            index=models.Index(condition=models.Q(('state', 'pending')), fields=['endpoint', 'user_pk', 'event'], name='webhook_delivery_cart_queue'),
        ),
        migrations.AddIndex(
            model_name='webhookdelivery',
            index=models.Index(fields=['state', 'queued_at'], name='webhook_delivery_state'),
        ),
        migrations.AddConstraint(
            model_name='webhookdelivery',
            constraint=models.UniqueConstraint(fields=('endpoint', 'event'), name='webhook_delivery_once'),
        ),
        migrations.RunPython(add_cascades, drop_cascades),
    ]
