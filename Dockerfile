# The pipeline image used by docker-compose.yml: the synfinance CLI with every component.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY producers ./producers
COPY processors ./processors
COPY schemas ./schemas
COPY sinks ./sinks
COPY synfinance ./synfinance
COPY infra ./infra
RUN pip install --no-cache-dir .
RUN useradd --create-home synfin
USER synfin
ENTRYPOINT ["synfinance"]
CMD ["--help"]
