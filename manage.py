#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cartproject.settings")
    from django.core.management import execute_from_command_line

    from cartproject import tracing

    # The gRPC server (grpcserve) and the other commands trace when OTEL_*
    # asks for it, as gunicorn's workers do (cartproject/wsgi.py).
    tracing.configure()
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
