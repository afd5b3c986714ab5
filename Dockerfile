# syntax=docker/dockerfile:1.7
# One image for Render, Railway, Fly.io and docker-compose. Migrations are a separate step
# (`alembic upgrade head`: pre-deploy / release command / the compose `migrate` service).
ARG PYTHON_VERSION=3.12
# `api` (default): trackr's API alone. `site`: what one site of the three-sites topology runs
# (deploy/sites: etcd, Patroni, PostgreSQL 16 and the Tailscale mesh beside the API). Render
# and Railway pass service variables as build arguments; Fly takes [build.args].
ARG TRACKR_IMAGE_VARIANT=api

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir "uv==0.13.9"
WORKDIR /app
# Dependencies first (cached until uv.lock changes); no dev tools, no local PostgreSQL.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-default-groups --no-install-project
COPY README.md alembic.ini ./
COPY alembic ./alembic
COPY app ./app
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-default-groups
# The project is installed editable, so UV_COMPILE_BYTECODE skips it: compile it here. The
# runtime never writes bytecode, and compiling ~100 modules from source on every start was
# half of the cold start (docs/performance-notes.md, step 9).
RUN /app/.venv/bin/python -m compileall -q app alembic

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ARG POSTGRES_MAJOR=16
# pg_dump and pg_restore for `trackr backup --method dump` (the scheduled backup jobs run this
# image). PostgreSQL's own repository: pg_dump refuses a server newer than itself, and
# Debian's is 15.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl gnupg \
 && curl -fsSL https://www.postgresql.org/media/keys/ACCC4CF8.asc \
      | gpg --dearmor -o /usr/share/keyrings/pgdg.gpg \
 && echo "deb [signed-by=/usr/share/keyrings/pgdg.gpg] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
      > /etc/apt/sources.list.d/pgdg.list \
 && apt-get update \
 && apt-get install -y --no-install-recommends "postgresql-client-${POSTGRES_MAJOR}" \
 && apt-get purge -y --auto-remove curl gnupg \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 trackr \
 && useradd --system --uid 10001 --gid trackr --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin trackr \
 && install -d -o trackr -g trackr /backups
# barman (GPL-3), a tool in its own virtualenv, never imported: the physical backups and the
# WAL stream (`trackr backup stream`, BACKUP_BARMAN_HOME). Its pins carry hashes; it is
# installed without its own dependency list (deploy/backup/barman-requirements.in says why).
COPY deploy/backup/barman-requirements.txt /tmp/barman-requirements.txt
RUN python -m venv /opt/barman \
 && /opt/barman/bin/pip install --no-cache-dir --no-deps --require-hashes \
        -r /tmp/barman-requirements.txt \
 && rm /tmp/barman-requirements.txt
WORKDIR /app
COPY --from=build --chown=trackr:trackr /app /app
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_ENV=production \
    LOG_FORMAT=json \
    PORT=8000 \
    WEB_CONCURRENCY=1 \
    FORWARDED_ALLOW_IPS=* \
    TRACKR_BARMAN=/opt/barman/bin/barman
USER trackr
EXPOSE 8000
# uvicorn finishes in-flight requests on SIGTERM (GRACEFUL_SHUTDOWN_SECONDS, default 20).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('PORT', '8000'), timeout=2)"]
CMD ["trackr", "serve"]

FROM runtime AS variant-api

FROM runtime AS variant-site
USER root
ARG PATRONI_VERSION=4.1.5
ARG POSTGRES_MAJOR=16
# PostgreSQL's repository is already set up by the runtime stage.
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl gnupg \
 && curl -fsSL https://pkgs.tailscale.com/stable/debian/bookworm.noarmor.gpg \
      -o /usr/share/keyrings/tailscale-archive-keyring.gpg \
 && curl -fsSL https://pkgs.tailscale.com/stable/debian/bookworm.tailscale-keyring.list \
      -o /etc/apt/sources.list.d/tailscale.list \
 && apt-get update \
 && apt-get install -y --no-install-recommends "postgresql-${POSTGRES_MAJOR}" etcd-server \
      socat supervisor tailscale \
 && python -m venv /opt/patroni \
 && /opt/patroni/bin/pip install --no-cache-dir "patroni[etcd3,psycopg3]==${PATRONI_VERSION}" \
 && apt-get purge -y --auto-remove curl gnupg \
 && rm -rf /var/lib/apt/lists/*
COPY deploy/sites/patroni.yml deploy/sites/supervisord-*.conf /etc/trackr-site/
COPY deploy/sites/bin/ /usr/local/lib/trackr-site/
COPY deploy/patroni/post-bootstrap.sh /usr/local/bin/post-bootstrap.sh
ENV PATH="/opt/patroni/bin:/usr/lib/postgresql/${POSTGRES_MAJOR}/bin:${PATH}" \
    PATRONI_POSTGRESQL_BIN_DIR=/usr/lib/postgresql/${POSTGRES_MAJOR}/bin \
    TRACKR_PATRONI_CONFIG=/etc/trackr-site/patroni.yml
# The platforms check the API's role over HTTP; a node has no API to check.
HEALTHCHECK NONE
# supervisord starts as root and runs each program as its own user (postgres, trackr).
CMD ["/usr/local/lib/trackr-site/site-start.sh"]

FROM variant-${TRACKR_IMAGE_VARIANT}
