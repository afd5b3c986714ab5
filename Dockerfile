# syntax=docker/dockerfile:1.7
# One image for Render, Railway, Fly.io and docker-compose. Migrations are a separate step
# (`alembic upgrade head`: pre-deploy / release command / the compose `migrate` service).
ARG PYTHON_VERSION=3.12

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
RUN groupadd --system --gid 10001 trackr \
 && useradd --system --uid 10001 --gid trackr --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin trackr
WORKDIR /app
COPY --from=build --chown=trackr:trackr /app /app
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_ENV=production \
    LOG_FORMAT=json \
    PORT=8000 \
    WEB_CONCURRENCY=1 \
    FORWARDED_ALLOW_IPS=*
USER trackr
EXPOSE 8000
# uvicorn finishes in-flight requests on SIGTERM (GRACEFUL_SHUTDOWN_SECONDS, default 20).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('PORT', '8000'), timeout=2)"]
CMD ["trackr", "serve"]
