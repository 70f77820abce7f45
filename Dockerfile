# syntax=docker/dockerfile:1
#
# One image for all six Interact services and the gateway (with the built Portal). The command picks the service:
#   docker run interact python -m services.routing
# (docker-compose.yml and deploy/k8s set it per service.)

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: a virtualenv with the project and its runtime dependencies -------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

WORKDIR /src

# Dependencies first, from pyproject.toml alone, so that a code change does not
# reinstall them: install against empty packages, then drop the project itself.
COPY pyproject.toml ./
RUN mkdir -p shared services \
    && touch shared/__init__.py services/__init__.py \
    && pip install . \
    && pip uninstall -y interact \
    && rm -rf build shared services ./*.egg-info

# Then the code (no dev/test extras).
COPY shared ./shared
COPY services ./services
RUN pip install --no-deps . \
    && python -c "import shared, services"

# --- the Portal: built once, served by the gateway from /app/portal/dist -------------------
FROM node:20-slim AS portal
WORKDIR /portal
COPY portal/package.json portal/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY portal/ ./
RUN npm run build

# --- runtime -------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="interact" \
      org.opencontainers.image.description="Interact omnichannel messaging hub services" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DATA_DIR=/data \
    HTTP_HOST=0.0.0.0 \
    PORTAL_DIST=/app/portal/dist

# pg_dump and pg_restore for the backup command (python -m services.backup), the same major
# version as the PostgreSQL 15 server; libmagic names an attachment's type from its bytes
# (shared.attachments).
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client libmagic1 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 interact \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin interact \
    && mkdir -p /app /data /backups /blobs \
    && chown 10001:10001 /app /data /backups /blobs

COPY --from=build /opt/venv /opt/venv
COPY --from=portal /portal/dist /app/portal/dist

WORKDIR /app
USER 10001:10001

# conversation 8000, ingest 8001, routing 8002, stats 8003, billing 8004, sla 8005, gateway 8080
EXPOSE 8000-8005 8080

# Liveness on this container's HTTP_PORT (set by compose/k8s; 8000 is conversation's).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('HTTP_PORT', '8000'), timeout=3)" || exit 1

CMD ["python", "-m", "services.conversation"]
