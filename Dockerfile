# syntax=docker/dockerfile:1
#
# One image for every CSM service. The service a container runs is chosen by its command
# (docker-compose.yml `command:`, Kubernetes `command:`):
#   csm-registration | csm-questionnaire | csm-reporting | csm-notification | csm-portal
#
#   docker build -t csm-platform .
#   docker run --rm -e CSM_HTTP_PORT=8001 ... csm-platform csm-registration

# The portal's front-end packages (GOV.UK Frontend, htmx) from npm; only node_modules is kept.
FROM node:20-slim AS portal-assets
WORKDIR /assets
COPY services/portal/package.json services/portal/package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim

ARG UV_VERSION=0.13.9

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

# uv from PyPI, like everything else the image installs.
RUN pip install "uv==${UV_VERSION}"

WORKDIR /app

# 1. Third-party dependencies only, from the lock file and the members' pyproject.toml files,
#    so this layer is rebuilt only when dependencies change, not on every source edit.
COPY pyproject.toml uv.lock ./
COPY libs/kernel/pyproject.toml libs/kernel/pyproject.toml
COPY libs/infra/pyproject.toml libs/infra/pyproject.toml
COPY contracts/pyproject.toml contracts/pyproject.toml
COPY services/registration/pyproject.toml services/registration/pyproject.toml
COPY services/questionnaire/pyproject.toml services/questionnaire/pyproject.toml
COPY services/reporting/pyproject.toml services/reporting/pyproject.toml
COPY services/notification/pyproject.toml services/notification/pyproject.toml
COPY services/portal/pyproject.toml services/portal/pyproject.toml
COPY tools/audit/pyproject.toml tools/audit/pyproject.toml
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace

# 2. The workspace itself (editable installs: csm_contracts reads contracts/schemas/ beside
#    its source, so the tree stays under /app).
COPY libs/ libs/
COPY contracts/ contracts/
COPY services/ services/
COPY tools/ tools/
COPY --from=portal-assets /assets/node_modules services/portal/node_modules
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev \
 && python -m compileall -q libs contracts services tools

# Every console script (csm-registration, ..., csm-portal) is on PATH.
ENV PATH="/app/.venv/bin:${PATH}" \
    VIRTUAL_ENV=/app/.venv

# Run as an unprivileged user; the code and the virtualenv stay owned by root (read-only).
RUN groupadd --system --gid 10001 csm \
 && useradd --system --uid 10001 --gid csm --home-dir /home/csm --create-home --shell /usr/sbin/nologin csm
USER 10001:10001

EXPOSE 8000 8001 8002 8003 8004

# The portal by default; every other service is chosen by the container's command.
CMD ["csm-portal"]
