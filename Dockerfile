# The bot with the local GPU engine. Build: docker build -t imagebot .
# Run: docker run --gpus all -e DISCORD_TOKEN -v imagebot-data:/data imagebot
#
# CUDA: torch comes from PyTorch's own index for the CUDA release named by TORCH_CUDA, and the
# base image carries the same CUDA release, so the two always match. CUDA 12.8 needs an NVIDIA
# driver of 570 or newer on the host (`nvidia-smi` shows it) and the NVIDIA Container Toolkit.
# For an older driver, build with a matching pair, e.g.
#   docker build --build-arg CUDA_VERSION=12.6.3 --build-arg TORCH_CUDA=cu126 -t imagebot .
ARG CUDA_VERSION=12.8.1
FROM nvidia/cuda:${CUDA_VERSION}-cudnn-runtime-ubuntu24.04
ARG TORCH_CUDA=cu128

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
# Dependencies first, from pyproject.toml alone, so that a change to the code reuses this
# layer instead of downloading gigabytes again. torch comes from the CUDA index above;
# "scale" adds saq, redis and asyncpg, so one image serves bot clusters and GPU workers.
COPY pyproject.toml README.md ./
RUN pip install torch --index-url "https://download.pytorch.org/whl/${TORCH_CUDA}" \
    && python3 -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
print("\n".join(p["dependencies"] + p["optional-dependencies"]["local"] \
+ p["optional-dependencies"]["scale"]))' > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && python3 -c 'import torch; assert torch.version.cuda, "torch is a CPU build"; print("torch", torch.__version__, "CUDA", torch.version.cuda)'

COPY bot bot
COPY cogs cogs
COPY engine engine
RUN pip install --no-deps .

# The folders the named volumes mount over. Docker copies a folder's owner into a new named
# volume, so the bot (not root) can write the database, results, models and blobs.
RUN useradd --create-home --uid 10001 imagebot \
    && mkdir -p /data/models /data/loras /blobs \
    && chown -R imagebot:imagebot /data /blobs
USER imagebot

# /data: the database (imagebot.sqlite3), results/ (generated images), models/ (the Hugging
# Face cache, HF_HOME) and loras/ (set lora_dir = "/data/loras" to use it).
# /blobs: results handed from GPU workers to the bot tier in the scaled mode.
VOLUME ["/data", "/blobs"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "bot"]
