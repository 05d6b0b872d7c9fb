# The worker image. Campaigns are baked in at /app/campaigns; mount your own over it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    LIFECYCLE_CAMPAIGNS_DIR=/app/campaigns \
    LIFECYCLE_DATA_DIR=/var/lib/lifecycle \
    LIFECYCLE_WEB_HOST=0.0.0.0

WORKDIR /app
COPY pyproject.toml setup.py README.md ./
COPY lifecycle ./lifecycle
COPY streams ./streams
# The wheel carries the campaigns as package data too (setup.py); /app/campaigns stays the
# directory the worker reads, so a mount over it replaces them.
COPY campaigns ./campaigns
RUN pip install --no-cache-dir '.[rocksdb]' && useradd --system --home /var/lib/lifecycle lifecycle \
    && mkdir -p /var/lib/lifecycle && chown lifecycle /var/lib/lifecycle

USER lifecycle
EXPOSE 6066
HEALTHCHECK --interval=15s --timeout=3s CMD python -c "import urllib.request,os; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('LIFECYCLE_WEB_PORT', '6066') + '/health')"
ENTRYPOINT ["lifecycle"]
CMD ["worker"]
