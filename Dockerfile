# ttvd in a container: the HTTP API by default; the daemon is the same image running `ttvd daemon`.
# compose.yaml runs both on one home volume. Build and run: see docs/container.md.
#
#   docker build -t ttvd:local .                       (or: podman build -t ttvd:local .)
#   docker build --build-arg EXTRAS=piper -t ttvd:local .   natural offline voices (the piper extra)
FROM python:3.11-slim

# tini: PID 1 that forwards SIGTERM (the daemon then finishes or requeues its job) and reaps ffmpeg.
# fontconfig and fonts: libass, inside the ffmpeg of imageio-ffmpeg, draws the captions' CJK, emoji,
# Arabic and Hebrew characters from them (the caption font itself ships inside ttvd). FONTS="" skips
# them for a smaller image whose captions are Latin, Greek and Cyrillic only.
ARG FONTS="fonts-dejavu-core fonts-noto-cjk fonts-symbola"
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini fontconfig $FONTS \
 && rm -rf /var/lib/apt/lists/*

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    TTVD_HOME=/var/lib/ttvd

# ttvd from this source tree, with its wheels from PyPI (ffmpeg and eSpeak NG come inside them).
ARG EXTRAS=""
COPY . /opt/ttvd/src
RUN pip install "/opt/ttvd/src${EXTRAS:+[$EXTRAS]}"

# Never root: a fixed uid, so a host folder mounted as the home can be given to it (chown 10001).
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/ttvd ttvd \
 && mkdir -p /var/lib/ttvd \
 && chown ttvd:ttvd /var/lib/ttvd
USER ttvd
WORKDIR /var/lib/ttvd
# The home: spool/, watch/, work/, output/, cache/. The API and the daemon share it.
VOLUME ["/var/lib/ttvd"]

EXPOSE 5000
# Healthy: the API answers and a daemon is alive with room on the disk (GET /api/v1/health is 503 otherwise).
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/api/v1/health' % os.environ.get('TTVD_PORT', '5000'), timeout=5)"]

ENTRYPOINT ["/usr/bin/tini", "--"]
# Every address inside the container, so a published port reaches it. Without TTVD_API_TOKENS ttvd
# refuses a non-loopback address: set tokens, or add --insecure when the port is published on the
# host's loopback only (as compose.yaml does).
CMD ["ttvd", "serve", "--host", "0.0.0.0"]
