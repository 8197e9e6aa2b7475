# PIM Bot for Microsoft Teams: the production image. Usage and App Service deployment: docs/deploy.md.
#   docker build -t pim-bot .
#   docker run -p 3978:3978 -v pim-bot-data:/data -e MicrosoftAppId=... -e MicrosoftAppPassword ... pim-bot
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what runs: the package metadata and the product code (no tests, simulated tenant, devtools or manifest tooling).
COPY pyproject.toml README.md LICENSE ./
COPY app.py settings.py ./
COPY core/ ./core/
COPY graph/ ./graph/
COPY cards/ ./cards/
COPY bot/ ./bot/

# Runtime dependencies come from pyproject.toml (no [test] extra). pip builds in the source tree: drop its leftovers.
# The bot runs from /app (`python app.py` puts /app first on sys.path); bytecode is compiled now because the
# non-root user cannot write it at run time.
RUN pip install . \
    && rm -rf build ./*.egg-info \
    && python -m compileall -q app.py settings.py core graph cards bot

# Non-root; the SQLite state lives on a volume the user owns.
RUN useradd --system --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pimbot \
    && mkdir -p /data \
    && chown pimbot /data
VOLUME ["/data"]

ENV HOST=0.0.0.0 \
    PORT=3978 \
    STATE_DB=/data/state.sqlite3

USER pimbot
EXPOSE 3978

# The slim image has no curl. No proxy for the loopback call, whatever HTTP_PROXY says; urlopen raises on non-2xx.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3978'), timeout=4)"]

CMD ["python", "app.py"]
