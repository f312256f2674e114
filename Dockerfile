# The cart service image. Stages:
#   builder  wheels of requirements.txt, installed into the venv /opt/venv
#   app      the service: that venv (no compilers, no wheels), non-root,
#            static files collected, gunicorn behind docker/entrypoint.sh
#   nginx    Debian's nginx in front of the replicas, with the app's static
#            files (docker/nginx/; a stage here, so the files are the app's)
#   test     app plus requirements-dev.txt and tests/, for the compose `test`
#            service (`target: test`); never deployed
#   runtime  the app again, last so that a plain `docker build .` gives it
# No `# syntax=` line and no RUN --mount: it builds on the classic builder too.

FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /build
COPY requirements.txt ./
RUN pip wheel --wheel-dir /wheels -r requirements.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-index --find-links /wheels -r requirements.txt

FROM python:3.11-slim AS app
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH \
    GUNICORN_BIND=0.0.0.0:8000
# A home directory, as tools expect one. gunicorn's control socket is not put
# in it (~/.gunicorn): gunicorn.conf.py makes none unless GUNICORN_CONTROL_SOCKET.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app \
        --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
COPY manage.py gunicorn.conf.py ./
COPY cartproject/ cartproject/
COPY carts/ carts/
COPY docker/entrypoint.sh docker/healthcheck.py docker/wait_for_db.py docker/
# collectstatic signs nothing, so it needs no secret key.
RUN python manage.py collectstatic --noinput
USER 10001:10001
# 8000: gunicorn (the web replicas), 7070: manage.py grpcserve (the grpc service)
EXPOSE 8000 7070
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/docker/healthcheck.py"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]

FROM debian:bookworm-slim AS nginx
# Debian's packages, not pinned: the security archive replaces old versions.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx \
    && rm -rf /var/lib/apt/lists/*
COPY --from=app /app/staticfiles /srv/static
COPY docker/nginx/nginx.conf.template /etc/nginx/cart.conf.template
COPY docker/nginx/entrypoint.sh /usr/local/bin/nginx-entrypoint
# www-data: the configuration, pid and buffers go to /tmp/nginx.
USER 33:33
EXPOSE 8080
HEALTHCHECK --interval=2s --timeout=3s --retries=30 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${NGINX_PORT:-8080}"]
ENTRYPOINT ["/usr/local/bin/nginx-entrypoint"]

FROM app AS test
USER 0:0
COPY requirements.txt requirements-dev.txt ./
RUN pip install -r requirements-dev.txt
COPY pyproject.toml ./
COPY devtools/ devtools/
COPY tests/ tests/
USER 10001:10001
# The image's code against the compose database. The host suite (make test)
# runs the rest: tests that need a browser, a PostgreSQL server to stop, or
# the repository itself (README, git).
CMD ["pytest", "-p", "no:cacheprovider", "-m", "not browser and not pg_server and not repository"]

FROM app AS runtime
