#!/bin/sh
# Start a Memori service under the narrowest Deno permissions that work. `deno task core`,
# `deno task worker` and `deno task doctor` run this, the container images run those tasks, and
# the end-to-end tests start the services through them, so a permission that is too wide or too
# narrow shows there.
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

# The well-formed host:port entries among the arguments, comma-joined. A malformed one (from a
# mistyped URL) is left out rather than passed on: Deno would refuse the whole flag with "invalid
# host", while config.ts stops the service with a message naming the variable.
net_list() {
  out=
  for hp in "$@"; do
    case "$hp" in
      '' | :* | *: | *[!]A-Za-z0-9.:_[-]*) ;;
      *) out=${out:+$out,}$hp ;;
    esac
  done
  printf '%s' "$out"
}

# A relative path (the defaults are ./data/...) is taken from the directory the task runs in and
# handed to the service absolute: the core returns image paths the worker must find, and both
# must name the same directory whatever their working directory.
absolute() {
  case "$1" in
    /*) printf '%s' "$1" ;;
    *) printf '%s/%s' "$PWD" "${1#./}" ;;
  esac
}

image_dir=$(absolute "${IMAGE_STORAGE_PATH:-./data/images}")
export IMAGE_STORAGE_PATH="$image_dir"
db_path=$(absolute "${DATABASE_PATH:-./data/db/life_organiser.db}")
export DATABASE_PATH="$db_path"
redis=$(host_port "${REDIS_URL:-redis://127.0.0.1:6379}" 6379)

# What the worker and the doctor reach: Redis, the core and the LLM server.
llm_url=${LLM_BASE_URL:-http://localhost:8080/v1}
case "$llm_url" in https://*) llm_port=443 ;; *) llm_port=80 ;; esac
llm=$(host_port "$llm_url" "$llm_port")
core=$(host_port "${CORE_API_URL:-http://127.0.0.1:8000}" 80)

core_host=${CORE_HOST:-127.0.0.1}
core_port=${CORE_PORT:-8000}
metrics_port=${WORKER_METRICS_PORT:-9100}

# The variables each service reads (CORE_ENV_VARS and WORKER_ENV_VARS of shared/config.ts;
# tests/shared/env_example_test.ts keeps the two in step): each service's own, and those both
# read. The doctor and deno task dev read every one.
both_vars=IMAGE_STORAGE_PATH,REDIS_URL,LOG_LEVEL,CORE_API_TOKEN,HTTP_MAX_CONNECTIONS
both_vars=$both_vars,HTTP_HEADERS_TIMEOUT_SECONDS,HTTP_REQUEST_TIMEOUT_SECONDS
both_vars=$both_vars,HTTP_IDLE_TIMEOUT_SECONDS
core_vars=CORE_HOST,CORE_PORT,DATABASE_PATH,MAX_UPLOAD_BYTES,MAX_CONCURRENT_UPLOADS
core_vars=$core_vars,MAX_BODY_BYTES,MAX_JSON_DEPTH,SCHEDULER_INTERVAL_SECONDS
core_vars=$core_vars,REPUBLISH_INTERVAL_SECONDS,SEARCH_WORKERS,SEARCH_MAX_QUEUE
core_vars=$core_vars,SEARCH_TIMEOUT_SECONDS,SEARCH_MMAP_MB,SEARCH_CACHE_MB,SEARCH_CANDIDATE_CAP
worker_vars=LLM_BASE_URL,LLM_VISION_MODEL,LLM_TEXT_MODEL,LLM_API_KEY,LLM_MAX_RETRIES
worker_vars=$worker_vars,LLM_TIMEOUT_SECONDS,LLM_RETRY_BASE_MS,LLM_RETRY_MAX_MS,CORE_API_URL
worker_vars=$worker_vars,WORKER_CONCURRENCY,WORKER_CLAIM_IDLE_SECONDS,WORKER_METRICS_PORT
worker_vars=$worker_vars,LLM_OUTAGE_MAX_HOURS,LLM_PROBE_MAX_SECONDS,LLM_MAX_ANSWER_CHARS
worker_vars=$worker_vars,WORKER_MAX_DELIVERIES
all_vars=$core_vars,$worker_vars,$both_vars

# Run the command in this process; with SERVE_PRINT=1 print it instead, one argument a line, so
# a test can read the flags a service gets without starting it.
launch() {
  if [ "${SERVE_PRINT-}" = 1 ]; then
    printf '%s\n' "$@"
    exit 0
  fi
  exec "$@"
}

# V8's heap, for both services (measured with `deno task bench`, bench/RESULTS.md):
# - a small young generation (2 MB semi-spaces): with V8's default the worker's peak RSS reached
#   ~200 MB and the core's grew from ~90 MB idle to ~155 MB after 15 s of load;
# - the old generation grows by half its live size after each full collection instead of V8's
#   up to 4x: the worker's live heap is ~18 MB, but the heap grew to ~65 MB before its first full
#   collection (RSS after the pipeline bench ~141 -> ~103 MB; the core's after 20 s of writes
#   ~158 -> ~115 MB). Collections are short at that size: no change in CPU per request or job;
# - V8's memory reducer (the collections that hand an idle heap's free pages back to the system)
#   may start 1 s after a full collection or the start-up instead of 8 and 30 s: an idle core
#   fell from ~81 to ~74 MB only 15-30 s after start, now after ~8 s. V8 still runs it only when
#   the service allocates little (idle), so it does not collect under load.
v8_flags=--max-semi-space-size=2,--heap-growing-percent=50
v8_flags=$v8_flags,--memory-reducer-delay-ms=1000,--gc-memory-reducer-start-delay-ms=1000

# --no-code-cache: Deno's V8 code cache (compiled code kept in DENO_DIR) loads each module's
# cached functions whether they run or not, ~3.5 MB of each service's RSS for ~70 ms of start-up.

case "$service" in
  core)
    db_dir=$(dirname "$db_path")
    listen="$core_host:$core_port"
    net=$(net_list "$listen" "$redis")
    # The core's threads (the WAL checkpoint thread, core/db/checkpoint_worker.ts, and the search
    # workers, core/store/search_pool.ts) are loaded like a dynamic import, which Deno lets a
    # thread do only with read access to each module it loads: the directories of their modules
    # (source code, no data). The core reads none of its other code.
    case "${SEARCH_WORKERS:-1}" in
      0) code_dirs=",$here/core/db" ;;
      *) code_dirs=",$here/core/store,$here/core/db" ;;
    esac
    launch deno run --no-prompt --no-code-cache \
      --v8-flags="$v8_flags" \
      --allow-read="$db_dir,$image_dir$code_dirs" \
      --allow-write="$db_dir,$image_dir" \
      ${net:+"--allow-net=$net"} \
      --allow-env="$core_vars,$both_vars" --ignore-env \
      "$here/core/main.ts"
    ;;
  worker)
    # Its /metrics and /health listener (WORKER_METRICS_PORT=0 turns it off).
    case "$metrics_port" in
      # Off, or not a port at all: config.ts stops the worker with a message naming it.
      0 | '' | *[!0-9]*) metrics_listen= ;;
      *) metrics_listen=0.0.0.0:$metrics_port ;;
    esac
    net=$(net_list "$redis" "$core" "$llm" "$metrics_listen")
    # --jitless: V8 runs the worker's JavaScript in its interpreter, with no compiler. The worker
    # waits on the model, the core and Redis, so compiled code bought it little CPU and cost it
    # memory: each compiler's code objects, and its share of the `deno` binary paged in. Measured
    # (3,000 jobs, model 20 ms, A/B twice): CPU a job 1.71-1.98 ms against 1.16-1.18 with Maglev
    # (V8's mid tier) and 1.49-1.65 with Sparkplug alone, RSS after them 90.2 against 103-106 and
    # 92-95 MB. deno task bench --only=pipeline, twice each: worker idle 65.7-65.8 against
    # 68.6-68.7 MB, after the pipeline bench 86.3-87.3 against 96.3-98.5 MB; one worker 149.5-151.0
    # against 151.1-152.0 jobs/s, two 283.2-290.2 against 290.2-292.8. Next to a model that takes
    # seconds a job, ~0.7 ms more CPU is nothing; 10 MB is. The worker uses no WebAssembly, which
    # --jitless turns off. The core keeps its compilers: it is CPU-bound under load (without
    # TurboFan, V8's top tier, GET /memories/{id} took ~12% more CPU a request).
    launch deno run --no-prompt --no-code-cache \
      --v8-flags="$v8_flags,--jitless" \
      --allow-read="$image_dir" \
      ${net:+"--allow-net=$net"} \
      --allow-env="$worker_vars,$both_vars" --ignore-env \
      --allow-sys=hostname \
      "$here/llm_worker/main.ts"
    ;;
  doctor)
    # Checks both services' settings, so it sees both lists; it reaches what the worker reaches,
    # and reads and writes nothing.
    net=$(net_list "$redis" "$core" "$llm")
    launch deno run --no-prompt \
      ${net:+"--allow-net=$net"} \
      --allow-env="$all_vars" --ignore-env \
      "$here/llm_worker/doctor.ts"
    ;;
  dev)
    # scripts/dev.ts: the whole system on this machine. It starts redis-server (setsid gives
    # each child its own session, so Ctrl-C reaches them in order, through dev.ts) and the two
    # services through this script, so they get exactly their own flags. It reads both services'
    # settings (and LOG_FORMAT), reaches what it checks (Redis, the core's listen address, the
    # worker's listener, the LLM server) and writes only the data directory (Redis' files).
    case "$core_host" in 0.0.0.0) core_probe=127.0.0.1 ;; *) core_probe=$core_host ;; esac
    case "$metrics_port" in
      0 | '' | *[!0-9]*) metrics_probe= ;;
      *) metrics_probe=127.0.0.1:$metrics_port ;;
    esac
    net=$(net_list "$redis" "$core_probe:$core_port" "$metrics_probe" "$llm")
    launch deno run --no-prompt \
      --allow-run=setsid,sh,redis-server \
      --allow-write="$PWD/data" \
      ${net:+"--allow-net=$net"} \
      --allow-env="$all_vars,LOG_FORMAT" \
      "$here/scripts/dev.ts" "$PWD/data"
    ;;
  *)
    echo "usage: serve.sh core|worker|doctor|dev" >&2
    exit 2
    ;;
esac
