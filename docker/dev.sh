#!/usr/bin/env bash
# The one entry point into the course container.
#
#   docker/dev.sh [--dry-run] [--profile P] [--port N] [--expose] COMMAND [ARGS]
#
# --expose publishes JupyterLab on every network interface of the host; by
# default it listens on 127.0.0.1 only, so nobody else on the network can reach it.
#
# COMMAND:
#   shell          an interactive shell in the container
#   lab            JupyterLab on the chapters (the py:percent files open as notebooks)
#   book           execute every chapter and build the HTML book (make book)
#   test           the test suite (make test)
#   chapter ID...  execute the named chapters (make chapters CHAPTERS="ID...")
#   build          build the image only
#
# The image is built when no image exists for the current Dockerfile and pins
# (its tag is their hash). --dry-run prints the docker commands instead of
# running them.
set -euo pipefail

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DRY_RUN=0
PROFILE="${GCRL_PROFILE:-}"  # empty: gcrl's default profile
PORT="${GCRL_LAB_PORT:-8888}"
BIND=127.0.0.1

while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) DRY_RUN=1; shift ;;
    --profile) PROFILE="${2:?--profile needs a value}"; shift 2 ;;
    --port) PORT="${2:?--port needs a value}"; shift 2 ;;
    --expose) BIND=0.0.0.0; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "dev.sh: unknown option $1 (see docker/dev.sh --help)" >&2; exit 2 ;;
    *) break ;;
  esac
done
COMMAND="${1:-}"; shift || true

case "$PROFILE" in ""|smoke|standard|full) ;; *)
  echo "dev.sh: unknown profile '$PROFILE'; choose smoke, standard or full" >&2; exit 2 ;;
esac

HASH="$(cat "$REPO/docker/Dockerfile" "$REPO/Makefile" "$REPO/requirements.txt" "$REPO/constraints.txt" "$REPO/pyproject.toml" | sha256sum | cut -c1-12)"
IMAGE="${GCRL_IMAGE:-gcrl-course:$HASH}"
HOST_UID="$(id -u)"; HOST_GID="$(id -g)"

run() {  # print the command in --dry-run mode, else run it
  if [[ $DRY_RUN == 1 ]]; then printf '%q ' "$@"; printf '\n'; else "$@"; fi
}

ensure_image() {
  if [[ $DRY_RUN == 0 ]] && ! command -v docker >/dev/null; then
    echo "dev.sh: docker is not installed; see https://docs.docker.com/engine/install/ and the NVIDIA Container Toolkit" >&2; exit 2
  fi
  if [[ $DRY_RUN == 1 ]] || ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
    run docker build --build-arg "UID=$HOST_UID" --build-arg "GID=$HOST_GID" \
      -t "$IMAGE" -f "$REPO/docker/Dockerfile" "$REPO"
  fi
}

docker_run() {  # docker_run [extra docker args] -- command...
  local extra=()
  while [[ $# -gt 0 && "$1" != "--" ]]; do extra+=("$1"); shift; done
  shift
  local tty=()
  [[ -t 0 && -t 1 ]] && tty=(-it)
  run docker run --rm "${tty[@]}" --gpus all --ipc=host \
    --user "$HOST_UID:$HOST_GID" \
    -v "$REPO:/workspace" -w /workspace \
    ${PROFILE:+-e "GCRL_PROFILE=$PROFILE"} -e MUJOCO_GL=egl -e HOME=/tmp \
    "${extra[@]}" "$IMAGE" "$@"
}

case "$COMMAND" in
  build) ensure_image ;;
  shell) ensure_image; docker_run -- bash ;;
  lab)
    ensure_image
    if [[ $BIND == 0.0.0.0 ]]; then
      echo "dev.sh: JupyterLab will listen on port $PORT of every interface of this host (--expose); anyone who" \
           "can reach the host and has the token printed below can run code in the container" >&2
    else
      echo "dev.sh: JupyterLab will listen on http://localhost:$PORT, on this host only (--expose to publish it" \
           "on every interface); the token is printed below" >&2
    fi
    # Inside the container JupyterLab listens on all of the container's interfaces; the host side of
    # the port mapping decides who can reach it.
    docker_run -p "$BIND:$PORT:$PORT" -- make lab LAB_ARGS="--ip=0.0.0.0 --port=$PORT --no-browser" ;;
  book) ensure_image; docker_run -- make book ;;
  test) ensure_image; docker_run -- make test ;;
  chapter)
    [[ $# -gt 0 ]] || { echo "dev.sh: chapter needs at least one chapter id, e.g. docker/dev.sh chapter ch00" >&2; exit 2; }
    ensure_image; docker_run -- make chapters CHAPTERS="$*" ;;
  "") usage >&2; exit 2 ;;
  *) echo "dev.sh: unknown command '$COMMAND' (shell, lab, book, test, chapter, build)" >&2; exit 2 ;;
esac
