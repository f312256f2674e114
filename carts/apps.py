from django.apps import AppConfig


class CartsConfig(AppConfig):
    name = "carts"
    verbose_name = "Carts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Before any connection opens: each new one LISTENs for the cache.
        from .auth.token_cache import TokenCacheListener
        from .database import notifications

        notifications.register(TokenCacheListener())
