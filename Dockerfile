# Sentiment service image: the same install as `make install` on a fresh machine.
#   docker build -t sentiment-svc .
#   docker run --rm -v "$PWD/call.wav:/call.wav" sentiment-svc analyze /call.wav
FROM python:3.11-slim-bookworm

# torch==2.13.0 from PyPI is the CUDA build (several GB). For a small CPU-only image pass
# a CPU wheel index: --build-arg PIP_EXTRA_INDEX_URL=<index>.
ARG PIP_EXTRA_INDEX_URL=""
ENV PIP_EXTRA_INDEX_URL=${PIP_EXTRA_INDEX_URL} \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    PYTHONUNBUFFERED=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends make libsndfile1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md Makefile ./
COPY models/ models/
COPY tools/ tools/
COPY sentiment_svc/ sentiment_svc/
COPY audio_samples/ audio_samples/
RUN make install PYTHON=python3 \
    && rm -rf models/.wheels

ENV PATH=/app/.venv/bin:$PATH
EXPOSE 8000
ENTRYPOINT ["sentiment-svc"]
CMD ["--help"]
