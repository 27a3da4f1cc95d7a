#!/bin/sh
# Start a Memori service under the narrowest Deno permissions that work. `deno task core` and
# `deno task worker` run this, the container images run those tasks, and the end-to-end tests
# start the services through them, so a permission that is too wide or too narrow shows there.
#
# --ignore-env: libraries that enumerate the environment (ioredis' `debug`) see only the
# variables listed in --allow-env; any other variable reads as unset instead of failing.
#
# The permission lists depend on the configuration (paths, hosts, ports), and deno task cannot
# expand ${VAR:-default}, so they are computed here from the same variables and defaults as
# shared/config.ts; config.ts still validates every value when the service starts.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
service=${1:-}

# host:port of a URL, with a default port.
host_port() {
  rest=${1#*://}
  rest=${rest%%/*}
  rest=${rest##*@}
  case "$rest" in
    *:*) printf '%s' "$rest" ;;
    *) printf '%s:%s' "$rest" "$2" ;;
  esac
}

image_dir=${IMAGE_STORAGE_PATH:-/data/images}
redis=$(host_port "${REDIS_URL:-redis://redis:6379}" 6379)

case "$service" in
  core)
    db_path=${DATABASE_PATH:-/data/db/life_organiser.db}
    db_dir=$(dirname "$db_path")
    listen="${CORE_HOST:-0.0.0.0}:${CORE_PORT:-8000}"
    env_vars=CORE_HOST,CORE_PORT,DATABASE_PATH,IMAGE_STORAGE_PATH,REDIS_URL,MAX_UPLOAD_BYTES
    env_vars=$env_vars,MAX_BODY_BYTES,SCHEDULER_INTERVAL_SECONDS,REPUBLISH_INTERVAL_SECONDS
    env_vars=$env_vars,LOG_LEVEL
    exec deno run --no-prompt \
      --allow-read="$db_dir,$image_dir" \
      --allow-write="$db_dir,$image_dir" \
      --allow-net="$listen,$redis" \
      --allow-env="$env_vars" --ignore-env \
      "$here/core/main.ts"
    ;;
  worker)
    llm_url=${LLM_BASE_URL:-http://localhost:8080/v1}
    case "$llm_url" in https://*) llm_port=443 ;; *) llm_port=80 ;; esac
    llm=$(host_port "$llm_url" "$llm_port")
    core=$(host_port "${CORE_API_URL:-http://core:8000}" 80)
    env_vars=LLM_BASE_URL,LLM_VISION_MODEL,LLM_TEXT_MODEL,LLM_API_KEY,LLM_MAX_RETRIES
    env_vars=$env_vars,LLM_TIMEOUT_SECONDS,LLM_RETRY_BASE_MS,LLM_RETRY_MAX_MS,REDIS_URL
    env_vars=$env_vars,CORE_API_URL,IMAGE_STORAGE_PATH,WORKER_CONCURRENCY
    env_vars=$env_vars,WORKER_CLAIM_IDLE_SECONDS,LOG_LEVEL
    exec deno run --no-prompt \
      --allow-read="$image_dir" \
      --allow-net="$redis,$core,$llm" \
      --allow-env="$env_vars" --ignore-env \
      --allow-sys=hostname \
      "$here/llm_worker/main.ts"
    ;;
  *)
    echo "usage: serve.sh core|worker" >&2
    exit 2
    ;;
esac
