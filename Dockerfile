# The bot with the local GPU engine. Build: docker build -t imagebot .
# Run: docker run --gpus all -e DISCORD_TOKEN -v imagebot-data:/data imagebot
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HF_HOME=/data/models \
    IMAGEBOT__STORAGE__DATA_DIR='"/data"'

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot bot
COPY cogs cogs
COPY engine engine
# torch from PyPI on x86_64 Linux is the CUDA build, which this base image's driver runs;
# "scale" adds saq, redis and asyncpg, so one image serves bot clusters and GPU workers.
RUN pip install ".[local,scale]"

RUN useradd --create-home --uid 10001 imagebot \
    && mkdir -p /data \
    && chown imagebot:imagebot /data
USER imagebot

# Database, generated images and the model cache.
VOLUME ["/data"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "bot"]
