# One image for both services: the backend (default command) and the trainer.
# Installs the project the same way the README does (pip, pinned torch/torchvision).
FROM python:3.11-slim

RUN useradd --create-home --uid 1000 codinet \
    && mkdir -p /runs /data \
    && chown codinet:codinet /runs /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY trainer ./trainer
COPY backend ./backend
COPY frontend ./frontend
COPY recipes ./recipes
RUN pip install --no-cache-dir '.[serve]'

USER codinet
ENV CODINET_RUNS_DIR=/runs \
    CODINET_DATA_DIR=/data \
    PYTHONUNBUFFERED=1
EXPOSE 8000
CMD ["python", "-m", "backend", "--host", "0.0.0.0", "--port", "8000"]
