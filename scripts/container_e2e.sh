#!/usr/bin/env bash
# Run the real images: build core/Dockerfile and llm_worker/Dockerfile, bring the project's own
# docker-compose.yml up in containers, check the running stack, and take it all down again.
#
#   deno task test:containers        (as root; or: bash scripts/container_e2e.sh)
#
# The engine is podman, set up as /work/shared/CONTAINERS.md describes: root, runc, cgroupfs,
# Debian's docker-compose v1 talking to `podman system service`, and a background loop that runs
# the healthchecks every second (podman schedules them through systemd, which we do not have).
# Missing packages (podman podman-compose debootstrap docker-compose curl jq) are installed with
# apt-get. ALL engine state (storage, networks, volumes, socket, logs) lives in one temporary
# folder, removed at the end; what podman leaves outside it anyway is removed too (see
# save_host_state).
#
# STAND-IN BASE IMAGES, because no container registry is reachable: nothing is pulled (pulls from
# docker.io are even blocked in the private registries.conf, so a missing image fails loudly).
# The base images are built locally and tagged with the exact names the Dockerfiles and the
# compose file use, so those files run unchanged. They are stand-ins for this test only:
#   - localhost/debian-base:<codename>   debootstrap --variant=minbase from the host's Debian mirror
#   - docker.io/denoland/deno:<tag>      the real deno binary that the npm package `deno` installs,
#                                        DENO_DIR=/deno-dir, user `deno` (uid 1993 as upstream),
#                                        tini and the upstream entry point logic; it also trusts the
#                                        host's extra CAs (DENO_CERT) when the host has some, e.g. a
#                                        TLS-inspecting proxy in front of the npm registry
#   - docker.io/library/redis:<tag>      Debian's redis-server and redis-cli, WORKDIR /data,
#                                        protected mode off (as upstream), runs as user redis
#
# The stack runs from a copy of the project (the compose file and the build context .dockerignore
# lets in) in the temporary folder, because compose reads `.env` from the project directory. That
# .env is .env.example with LLM_BASE_URL pointing at the fake OpenAI-compatible server
# (scripts/container_e2e_fake_llm.ts) on the host, listening only on the compose network's gateway
# address, which the containers reach as host.containers.internal. docker-compose.yml itself is
# used unchanged, with no override file.
#
# It prints one PASS/FAIL line per check and ends with `N passed, N failed`; the exit status is
# non-zero when a check failed. It stops only what it started (by pid) and removes only what it
# created.
set -Eeuo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
project=memori
text_model=fake-text
vision_model=fake-vision
# A 1x1 PNG.
png_b64="iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

passed=0
failed=0
why=""
P=""
service_pid=""
health_pid=""
fake_pid=""
stack_up=""
up_ok=""
created_dirs=()
netavark_rules_before=""
ip_forward_before=""
start_time=$SECONDS

log() { printf '== %s (%ss)\n' "$*" "$((SECONDS - start_time))"; }
pass() {
  passed=$((passed + 1))
  echo "PASS: $1"
}
fail() {
  failed=$((failed + 1))
  echo "FAIL: $1"
}
# check NAME FUNCTION [ARGS...]: run a check function; it may set $why to say what went wrong.
check() {
  local name=$1
  shift
  why=""
  if "$@"; then pass "$name"; else fail "$name${why:+ ($why)}"; fi
}
# Print the last lines of a log file, indented.
show_tail() {
  [ -f "$1" ] || return 0
  echo "---- last lines of $(basename "$1")"
  tail -n "${2:-40}" "$1" | sed 's/^/    /'
}

# step NAME FUNCTION: a set-up step. Not run as a condition, so `set -e` holds inside it: the
# first command that fails ends the run, as one FAIL line naming the step (see on_error).
current_step=""
step() {
  current_step=$1
  shift
  "$@"
  current_step=""
}

on_error() {
  fail "${current_step:+set-up: $current_step: }\`$1\` failed (line $2)"
}
trap 'on_error "$BASH_COMMAND" "$LINENO"' ERR

# bounded LIMIT CMD...: run CMD for at most LIMIT seconds. It runs in the background and the script
# waits for it, because bash handles a signal only between foreground commands but at once during
# `wait`: a CI timeout's SIGTERM then reaches cleanup, which stops the command ($fg_pid) first.
fg_pid=""
bounded() {
  local limit=$1 rc=0
  shift
  timeout "$limit" "$@" &
  fg_pid=$!
  wait "$fg_pid" || rc=$?
  fg_pid=""
  return "$rc"
}

# docker-compose v1 on the podman socket, for the project copy (compose takes the directory of
# the file as the project directory: .env, build contexts); bounded by $COMPOSE_LIMIT seconds.
compose() {
  DOCKER_HOST="unix://$P/podman.sock" bounded "${COMPOSE_LIMIT:-300}" \
    docker-compose -p "$project" -f "$P/$project/docker-compose.yml" "$@"
}

# --- teardown -------------------------------------------------------------------------------------

stop_pid() {
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# What the containers said, for a failed run.
diagnostics() {
  echo "---- compose logs (a check failed)"
  compose logs --no-color --tail 30 2>&1 | sed 's/^/    /'
  echo "---- healthchecks"
  podman ps -a --filter "label=com.docker.compose.project=$project" --format '{{.Names}}' |
    while read -r c; do
      podman inspect --format \
        '    {{.Name}}: {{.State.Healthcheck.Status}} {{range .State.Healthcheck.Log}}| exit {{.ExitCode}}: {{printf "%.200s" .Output}} {{end}}' \
        "$c" 2>&1 | tr '\n' ' '
      echo
    done
}

cleanup() {
  local status=$? mnt
  trap - ERR
  set +e
  # A signal's trap may run inside a redirected command (a log file): report on the real output.
  exec 1>&3 2>&4
  if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    fail "stopped before the checks ended (exit status $status)"
  fi
  stop_pid "$fg_pid"
  if [ -n "$stack_up" ]; then
    [ "$failed" -gt 0 ] && diagnostics
    COMPOSE_LIMIT=180 compose down -v --timeout 20 >"$P/compose-down-cleanup.log" 2>&1
  fi
  if [ -n "$P" ] && [ -n "$service_pid" ]; then
    podman rm -f -t 2 "$project-e2e-offline-core" "$project-e2e-offline-worker" >/dev/null 2>&1
    podman network rm -f "${project}_default" >/dev/null 2>&1
  fi
  stop_pid "$fake_pid"
  stop_pid "$health_pid"
  stop_pid "$service_pid"
  if [ -n "$P" ] && [ -d "$P" ]; then
    # Nothing should be mounted any more; unmount whatever is (deepest first) before removing.
    findmnt -rn -o TARGET | grep -F "$P/" | sort -r | while read -r mnt; do umount -l "$mnt"; done
    rm -rf "$P"
  fi
  restore_host_state
  echo "(took $((SECONDS - start_time))s)"
  echo "$passed passed, $failed failed"
  if [ "$failed" -gt 0 ] || [ "$status" -ne 0 ]; then exit 1; fi
  exit 0
}
# The script's own stdout and stderr, for cleanup.
exec 3>&1 4>&2
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- host state the engine touches outside the temporary folder --------------------------------------

# Whatever the configuration says, podman keeps a blob cache in /var/lib/containers and a
# short-name lock in /var/cache/containers, netavark a run directory in /run/containers, firewall
# chains NETAVARK* (iptables filter and nat) and net.ipv4.ip_forward=1. Note what exists now, and
# afterwards remove what this run added.
save_host_state() {
  local d
  for d in /var/lib/containers /var/cache/containers /run/containers; do
    [ -e "$d" ] || created_dirs+=("$d")
  done
  if command -v iptables >/dev/null 2>&1; then
    netavark_rules_before=$({ iptables -S; iptables -t nat -S; } 2>/dev/null | grep -c NETAVARK || true)
  fi
  ip_forward_before=$(cat /proc/sys/net/ipv4/ip_forward 2>/dev/null || true)
}

restore_host_state() {
  local d table chain rule
  for d in "${created_dirs[@]}"; do rm -rf "$d"; done
  # Only when no NETAVARK chain existed before (nobody else's podman networks to keep).
  if [ "$netavark_rules_before" = 0 ]; then
    for table in filter nat; do
      iptables -t "$table" -S 2>/dev/null | grep -E '^-A [A-Z]+ .*NETAVARK' | grep -v '^-A NETAVARK' |
        sed 's/^-A /-D /' | while read -r rule; do
          # The rule as iptables -S prints it, quotes included.
          eval "iptables -t $table $rule" 2>/dev/null
        done
      for chain in $(iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^NETAVARK/ {print $2}'); do
        iptables -t "$table" -F "$chain" 2>/dev/null
      done
      for chain in $(iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^NETAVARK/ {print $2}'); do
        iptables -t "$table" -X "$chain" 2>/dev/null
      done
    done
  fi
  if [ -n "$ip_forward_before" ] &&
    [ "$(cat /proc/sys/net/ipv4/ip_forward 2>/dev/null)" != "$ip_forward_before" ]; then
    echo "$ip_forward_before" >/proc/sys/net/ipv4/ip_forward 2>/dev/null
  fi
}

# --- engine ---------------------------------------------------------------------------------------

require_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "container_e2e.sh runs podman as root (see CONTAINERS.md); run it as root"
    exit 1
  fi
}

install_packages() {
  local need=() cmd pkg pair
  for pair in podman:podman podman-compose:podman-compose debootstrap:debootstrap \
    docker-compose:docker-compose curl:curl jq:jq; do
    cmd=${pair%%:*}
    pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
  done
  [ "${#need[@]}" -eq 0 ] && return 0
  log "installing ${need[*]} from Debian's packages"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
}

setup_engine() {
  save_host_state
  P=$(mktemp -d /tmp/memori-containers.XXXXXX)
  mkdir -p "$P/storage" "$P/run" "$P/tmp" "$P/networks"
  cat >"$P/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$P/storage"
runroot = "$P/run"
EOF
  cat >"$P/containers.conf" <<EOF
[containers]
# The sandbox cannot raise limits; podman's defaults fail with setrlimit EPERM.
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$P/tmp"

[network]
network_config_dir = "$P/networks"
EOF
  # Short names (FROM denoland/deno..., image: redis...) resolve on docker.io, and pulling from it
  # is blocked: only the local stand-ins can satisfy them.
  cat >"$P/registries.conf" <<EOF
unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"

[[registry]]
location = "docker.io"
blocked = true
EOF
  export CONTAINERS_STORAGE_CONF="$P/storage.conf" CONTAINERS_CONF="$P/containers.conf"
  export CONTAINERS_REGISTRIES_CONF="$P/registries.conf"
}

start_service() {
  local i
  podman system service --time=0 "unix://$P/podman.sock" >"$P/podman-service.log" 2>&1 3>&- 4>&- &
  service_pid=$!
  for ((i = 0; i < 100; i++)); do
    if curl -sf --max-time 2 --unix-socket "$P/podman.sock" http://d/_ping >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.2
  done
  show_tail "$P/podman-service.log"
  echo "podman system service did not answer on $P/podman.sock within 20 s"
  return 1
}

# Run the healthchecks of running containers every second (podman would need systemd for it), and
# note when each container first passed (the time the passing check started) in healthy.log.
health_loop() {
  trap - ERR
  set +e
  local name t0 child=""
  # Stopped by pid from cleanup: end the check in progress too.
  trap 'if [ -n "$child" ]; then kill "$child" 2>/dev/null; fi; exit 0' TERM
  : >"$P/healthy.log"
  while true; do
    for name in $(podman ps --format '{{.Names}}' 2>/dev/null); do
      t0=$(date +%s.%N)
      podman healthcheck run "$name" >/dev/null 2>&1 &
      child=$!
      if wait "$child"; then
        grep -q " $name\$" "$P/healthy.log" || echo "$t0 $name" >>"$P/healthy.log"
      fi
      child=""
    done
    sleep 1 &
    child=$!
    wait "$child"
    child=""
  done
}

# --- stand-in base images -------------------------------------------------------------------------

debian_mirror() {
  local m
  m=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' |
    grep -E '/debian/?$' | head -1 || true)
  [ -n "$m" ] || m=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
    awk '{print $2}' | grep -E '/debian/?$' | head -1 || true)
  echo "${m:-http://deb.debian.org/debian}"
}

# The image a FROM line or `image:` names, fully qualified the way podman stores it.
qualified() {
  local name=$1 first=${1%%/*}
  if [[ $name != */* ]]; then
    echo "docker.io/library/$name"
  elif [[ $first == *.* || $first == *:* || $first == localhost ]]; then
    echo "$name"
  else
    echo "docker.io/$name"
  fi
}

build_standins() {
  local codename mirror deno_bin deno_from core_from redis_image deno_version
  codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)
  codename=${codename:-bookworm}
  mirror=$(debian_mirror)

  core_from=$(awk 'toupper($1) == "FROM" {print $2; exit}' "$repo/core/Dockerfile")
  deno_from=$(awk 'toupper($1) == "FROM" {print $2; exit}' "$repo/llm_worker/Dockerfile")
  if [ "$core_from" != "$deno_from" ]; then
    echo "core/Dockerfile (FROM $core_from) and llm_worker/Dockerfile (FROM $deno_from) differ;" \
      "this script builds one Deno stand-in"
    return 1
  fi
  redis_image=$(awk '$1 == "image:" && $2 ~ /^redis/ {print $2; exit}' "$repo/docker-compose.yml")
  [ -n "$redis_image" ] || { echo "no redis image in docker-compose.yml" && return 1; }

  deno_bin=$(readlink -f "$(command -v deno)")
  if ! head -c 4 "$deno_bin" | grep -q ELF; then
    deno_bin="$(npm root -g)/deno/deno"
  fi
  deno_version=$("$deno_bin" --version | awk 'NR == 1 {print $2}')
  if [[ $deno_from != *"$deno_version" ]]; then
    echo "WARNING: the Deno stand-in holds deno $deno_version, the Dockerfiles ask for $deno_from"
  fi

  log "debootstrap --variant=minbase $codename from $mirror"
  bounded 300 debootstrap --variant=minbase "$codename" "$P/rootfs" "$mirror" \
    >"$P/debootstrap.log" 2>&1 || {
    show_tail "$P/debootstrap.log"
    return 1
  }
  # As in Debian's official images: package scripts must not start services during builds.
  printf '#!/bin/sh\nexit 101\n' >"$P/rootfs/usr/sbin/policy-rc.d"
  chmod 755 "$P/rootfs/usr/sbin/policy-rc.d"
  tar --numeric-owner -C "$P/rootfs" -c . | podman import -q - "localhost/debian-base:$codename" >/dev/null
  rm -rf "$P/rootfs"

  log "building the stand-in $(qualified "$deno_from") (deno $deno_version)"
  mkdir -p "$P/standin-deno"
  cp "$deno_bin" "$P/standin-deno/deno"
  cat >"$P/standin-deno/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
# As the official image's entry point: a deno subcommand or option runs deno, anything else runs
# as given.
set -e
if [ "$1" != "${1#-}" ]; then exec deno "$@"; fi
case "$1" in
  bench | bundle | cache | check | compile | completions | coverage | doc | eval | fmt | help | \
    info | init | install | jupyter | lint | lsp | publish | repl | run | serve | task | test | \
    types | uninstall | upgrade | vendor) exec deno "$@" ;;
esac
exec "$@"
EOF
  # Machines that reach the npm registry through a TLS-inspecting proxy trust its CA locally
  # (DENO_CERT, or /usr/local/share/ca-certificates). The stand-in trusts the same extra CAs, or
  # `deno install` in the project's builds could not verify registry.npmjs.org here.
  : >"$P/standin-deno/host-extra-ca.pem"
  if [ -n "${DENO_CERT:-}" ] && [ -f "$DENO_CERT" ]; then
    cat "$DENO_CERT" >"$P/standin-deno/host-extra-ca.pem"
  else
    find /usr/local/share/ca-certificates -name '*.crt' -type f -exec cat {} + \
      >"$P/standin-deno/host-extra-ca.pem" 2>/dev/null || true
  fi
  local deno_cert_env=""
  if [ -s "$P/standin-deno/host-extra-ca.pem" ]; then
    deno_cert_env="ENV DENO_CERT=/usr/local/share/host-extra-ca.pem"
    echo "   (the stand-in trusts the host's extra CAs through DENO_CERT)"
  fi
  cat >"$P/standin-deno/Dockerfile" <<EOF
# STAND-IN for $(qualified "$deno_from"), built locally because no registry is reachable.
FROM localhost/debian-base:$codename
RUN apt-get install -y --no-install-recommends tini \
  || (apt-get update && apt-get install -y --no-install-recommends tini)
RUN groupadd -g 1993 deno && useradd -u 1993 -g deno -m deno \
  && mkdir /deno-dir/ && chown deno:deno /deno-dir/
ENV DENO_DIR=/deno-dir/
ENV DENO_INSTALL_ROOT=/usr/local
COPY host-extra-ca.pem /usr/local/share/host-extra-ca.pem
$deno_cert_env
COPY deno /usr/bin/deno
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 755 /usr/bin/deno /usr/local/bin/docker-entrypoint.sh && ln -s /usr/bin/tini /tini
ENTRYPOINT ["/tini", "--", "docker-entrypoint.sh"]
CMD ["eval", "console.log('Welcome to Deno!')"]
EOF
  bounded 300 podman build -q -t "$(qualified "$deno_from")" "$P/standin-deno" \
    >"$P/standin-deno.log" 2>&1 || {
    show_tail "$P/standin-deno.log"
    return 1
  }
  rm -f "$P/standin-deno/deno"

  log "building the stand-in $(qualified "$redis_image") (Debian's redis-server)"
  mkdir -p "$P/standin-redis"
  cat >"$P/standin-redis/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
# As the official image's entry point: options alone run redis-server; redis-server started as
# root gets /data handed to the redis user and runs as that user. Protected mode is off, as the
# official build patches it (the container network is the boundary).
set -e
case "$1" in -* | *.conf) set -- redis-server "$@" ;; esac
if [ "$1" = redis-server ]; then
  shift
  set -- redis-server --protected-mode no "$@"
  if [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
  fi
fi
exec "$@"
EOF
  cat >"$P/standin-redis/Dockerfile" <<EOF
# STAND-IN for $(qualified "$redis_image"), built locally because no registry is reachable.
FROM localhost/debian-base:$codename
RUN apt-get install -y --no-install-recommends redis-server \
  || (apt-get update && apt-get install -y --no-install-recommends redis-server)
RUN mkdir -p /data && chown redis:redis /data
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 755 /usr/local/bin/docker-entrypoint.sh
VOLUME /data
WORKDIR /data
ENTRYPOINT ["docker-entrypoint.sh"]
EXPOSE 6379
CMD ["redis-server"]
EOF
  bounded 300 podman build -q -t "$(qualified "$redis_image")" "$P/standin-redis" \
    >"$P/standin-redis.log" 2>&1 || {
    show_tail "$P/standin-redis.log"
    return 1
  }
}

# --- the project ----------------------------------------------------------------------------------

free_ports() {
  deno eval --quiet '
    const a = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const b = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    console.log(a.addr.port, b.addr.port);
    a.close();
    b.close();'
}

# set_env FILE KEY VALUE: replace KEY=... in FILE, or append it.
set_env() {
  if grep -q "^$2=" "$1"; then
    sed -i "s|^$2=.*|$2=$3|" "$1"
  else
    echo "$2=$3" >>"$1"
  fi
}

prepare_project() {
  local env_file
  read -r core_port llm_port < <(free_ports)
  mkdir -p "$P/$project"
  # The compose file, .dockerignore, .env.example and the build context: .dockerignore excludes
  # everything (`*`) and lets back in what the images copy (`!path`), so copy just those.
  if [ "$(grep -vE '^\s*(#|$)' "$repo/.dockerignore" | head -1)" != "*" ]; then
    echo ".dockerignore no longer starts with \`*\`: update prepare_project in $0"
    return 1
  fi
  local paths=(docker-compose.yml .dockerignore .env.example) entry
  while read -r entry; do
    paths+=("${entry%/}")
  done < <(sed -n 's/^!//p' "$repo/.dockerignore")
  (cd "$repo" && cp -a --parents "${paths[@]}" "$P/$project/")
  env_file="$P/$project/.env"
  cp "$repo/.env.example" "$env_file"
  # The core is published on a free host port; the worker reaches the fake LLM on the host.
  set_env "$env_file" CORE_PORT "$core_port"
  set_env "$env_file" LLM_BASE_URL "http://host.containers.internal:$llm_port/v1"
  set_env "$env_file" LLM_TEXT_MODEL "$text_model"
  set_env "$env_file" LLM_VISION_MODEL "$vision_model"
  set_env "$env_file" LLM_API_KEY container-e2e-key
  set_env "$env_file" LLM_RETRY_BASE_MS 200
  set_env "$env_file" LLM_RETRY_MAX_MS 2000
  core_url="http://127.0.0.1:$core_port"
}

# The gateway of the project network: the host as the containers see it (host.containers.internal).
start_fake_llm() {
  local gateway i
  gateway=$(podman network inspect "${project}_default" \
    --format '{{range .Subnets}}{{.Gateway}}{{end}}')
  deno run --no-prompt --allow-net="127.0.0.1,$gateway:$llm_port" \
    "$repo/scripts/container_e2e_fake_llm.ts" "$gateway" "$llm_port" "$text_model" \
    "$vision_model" >"$P/fake-llm.log" 2>&1 3>&- 4>&- &
  fake_pid=$!
  for ((i = 0; i < 100; i++)); do
    grep -qs '^fake LLM listening' "$P/fake-llm.log" && return 0
    kill -0 "$fake_pid" 2>/dev/null || break
    sleep 0.2
  done
  show_tail "$P/fake-llm.log"
  echo "the fake LLM did not start on $gateway:$llm_port"
  return 1
}

# api METHOD PATH [curl args...]: prints the body, then the status code on the last line.
api() {
  local method=$1 path=$2
  shift 2
  curl -s --max-time 15 -X "$method" -w '\n%{http_code}' "$@" "$core_url$path"
}
# json METHOD PATH BODY: a JSON request.
json() {
  api "$1" "$2" -H 'content-type: application/json' -d "$3"
}
status_of() { tail -n 1 <<<"$1"; }
body_of() { sed '$d' <<<"$1"; }

container_of() { compose ps -q "$1" | head -1; }

# Wait (up to 60 s) for a job to leave queued/processing; prints the job.
finished_job() {
  local id=$1 job status i
  for ((i = 0; i < 120; i++)); do
    job=$(body_of "$(api GET "/llm_jobs/$id")")
    status=$(jq -r .status <<<"$job" 2>/dev/null || true)
    if [ "$status" = completed ] || [ "$status" = failed ]; then
      echo "$job"
      return 0
    fi
    sleep 0.5
  done
  echo "$job"
  return 1
}

# --- checks ---------------------------------------------------------------------------------------

check_compose_up() {
  log "docker-compose up -d --build"
  stack_up=1
  if ! COMPOSE_LIMIT=600 compose up -d --build >"$P/compose-up.log" 2>&1; then
    show_tail "$P/compose-up.log"
    why="docker-compose up failed"
    return 1
  fi
  up_ok=1
  core_c=$(container_of core)
  worker_c=$(container_of llm-worker)
  redis_c=$(container_of redis)
  core_image=$(podman inspect --format '{{.Image}}' "$core_c")
  worker_image=$(podman inspect --format '{{.Image}}' "$worker_c")
  if [ -z "$core_image" ] || [ -z "$worker_image" ]; then
    why="no core or worker image"
    return 1
  fi
}

# The image's dependencies were cached at build time: with no network at all, `deno cache
# --frozen` finds everything, and the service itself starts (the core even listens).
check_offline() {
  local image=$1 main=$2 name=$3 ready=$4 out i
  if ! out=$(bounded 120 podman run --rm --network none "$image" deno cache --frozen "$main" 2>&1); then
    why="deno cache --frozen $main with --network none: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
    return 1
  fi
  # --no-healthcheck: podman would try to schedule the image's HEALTHCHECK through systemd.
  podman run -d --name "$name" --network none --no-healthcheck "$image" >/dev/null || {
    why="podman run --network none failed"
    return 1
  }
  for ((i = 0; i < 60; i++)); do
    if podman logs "$name" 2>&1 | grep -q "$ready"; then
      podman rm -f -t 2 "$name" >/dev/null 2>&1
      return 0
    fi
    sleep 0.5
  done
  why="no \"$ready\" within 30 s; logs: $(podman logs "$name" 2>&1 | tail -n 5 | tr '\n' ' ')"
  podman rm -f -t 2 "$name" >/dev/null 2>&1
  return 1
}

check_health_order() {
  local redis_ok core_ok worker_start redis_name core_name
  redis_name=$(podman inspect --format '{{.Name}}' "$redis_c")
  core_name=$(podman inspect --format '{{.Name}}' "$core_c")
  [ "$(podman inspect --format '{{.State.Healthcheck.Status}}' "$redis_c")" = healthy ] || {
    why="redis is not healthy"
    return 1
  }
  [ "$(podman inspect --format '{{.State.Healthcheck.Status}}' "$core_c")" = healthy ] || {
    why="core is not healthy"
    return 1
  }
  redis_ok=$(awk -v n="$redis_name" '$2 == n {print $1; exit}' "$P/healthy.log")
  core_ok=$(awk -v n="$core_name" '$2 == n {print $1; exit}' "$P/healthy.log")
  worker_start=$(podman inspect --format '{{.State.StartedAt.UnixNano}}' "$worker_c")
  if [ -z "$redis_ok" ] || [ -z "$core_ok" ] || [ -z "$worker_start" ]; then
    why="no healthy time for redis ($redis_ok) or core ($core_ok), or no worker start time"
    return 1
  fi
  worker_start=$(awk -v ns="$worker_start" 'BEGIN {printf "%.3f", ns / 1e9}')
  echo "    redis healthy at $redis_ok, core healthy at $core_ok, worker started at $worker_start"
  awk -v r="$redis_ok" -v c="$core_ok" -v w="$worker_start" 'BEGIN {exit !(w > r && w > c)}' || {
    why="the worker started before redis and the core were healthy"
    return 1
  }
}

check_smoke() {
  local res id job notes
  res=$(json POST /users '{"telegram_user_id": 12345, "display_name": "Smoke Test"}')
  [ "$(status_of "$res")" = 200 ] || {
    why="POST /users answered $(status_of "$res")"
    return 1
  }
  res=$(json POST /llm_jobs \
    '{"job_type": "intent_classify", "payload": {"query": "test"}, "user_id": 12345}')
  [ "$(status_of "$res")" = 201 ] || {
    why="POST /llm_jobs answered $(status_of "$res"): $(body_of "$res")"
    return 1
  }
  id=$(body_of "$res" | jq -r .id)
  job=$(finished_job "$id") || {
    why="job $id still $(jq -r .status <<<"$job") after 60 s"
    return 1
  }
  [ "$(jq -r .status <<<"$job")" = completed ] || {
    why="job $id $(jq -r '.status + ": " + (.error_message // "")' <<<"$job")"
    return 1
  }
  [ "$(jq -r .result.intent <<<"$job")" = general_note ] || {
    why="result $(jq -c .result <<<"$job")"
    return 1
  }
  # XRANGE notify:telegram - +, read with redis-cli inside the redis container.
  notes=$(podman exec "$redis_c" redis-cli --raw XRANGE notify:telegram - + | grep '^{' |
    jq -s '[.[] | select(.message_type == "llm_intent_result" and .user_id == 12345)] | length')
  [ "$notes" = 1 ] || {
    why="$notes llm_intent_result notifications for 12345 on notify:telegram"
    return 1
  }
  grep -q '"authorization":"Bearer container-e2e-key"' "$P/fake-llm.log" || {
    why="the fake LLM never saw the API key from .env"
    return 1
  }
}

check_image_tag() {
  local res memory job tags sent
  printf '%s' "$png_b64" | base64 -d >"$P/pixel.png"
  res=$(json POST /users '{"telegram_user_id": 777, "display_name": "Img"}')
  [ "$(status_of "$res")" = 200 ] || {
    why="POST /users answered $(status_of "$res")"
    return 1
  }
  res=$(json POST /memories \
    '{"owner_user_id": 777, "media_type": "image", "media_file_id": "telegram-file-1"}')
  [ "$(status_of "$res")" = 201 ] || {
    why="POST /memories answered $(status_of "$res")"
    return 1
  }
  memory=$(body_of "$res" | jq -r .id)
  res=$(api POST "/memories/$memory/image" -F "file=@$P/pixel.png;type=image/png")
  [ "$(status_of "$res")" = 200 ] || {
    why="POST /memories/{id}/image answered $(status_of "$res"): $(body_of "$res")"
    return 1
  }
  image_path=$(body_of "$res" | jq -r .local_path)
  res=$(json POST /llm_jobs "$(jq -cn --arg m "$memory" --arg p "$image_path" \
    '{job_type: "image_tag", payload: {memory_id: $m, image_path: $p}, user_id: 777}')")
  [ "$(status_of "$res")" = 201 ] || {
    why="POST /llm_jobs image_tag answered $(status_of "$res"): $(body_of "$res")"
    return 1
  }
  job=$(finished_job "$(body_of "$res" | jq -r .id)") || {
    why="the image_tag job did not finish in 60 s"
    return 1
  }
  [ "$(jq -r .status <<<"$job")" = completed ] || {
    why="image_tag job $(jq -r '.status + ": " + (.error_message // "")' <<<"$job")"
    return 1
  }
  tags=$(body_of "$(api GET "/memories/$memory")" |
    jq -c '[.tags[] | [.tag, .status]] | sort')
  [ "$tags" = '[["pixel","suggested"],["test","suggested"],["tiny","suggested"]]' ] || {
    why="tags on GET /memories/{id}: $tags"
    return 1
  }
  # The bytes the worker sent the model are the uploaded file, read through image-data.
  sent=$(grep '^{' "$P/fake-llm.log" | jq -r "select(.model == \"$vision_model\") | .images[]")
  [ "$sent" = "data:image/png;base64,$png_b64" ] || {
    why="the model got other image data: ${sent:0:60}"
    return 1
  }
}

# A probe run by the worker's own `deno run` flags, in the worker container: prints
# {op: "ok" | error name}.
read -r -d '' PROBE <<'EOF' || true
const out = {};
for (const [name, op, arg] of JSON.parse(Deno.args[0])) {
  try {
    if (op === "read") Deno.readFileSync(arg);
    else if (op === "readdir") [...Deno.readDirSync(arg)];
    else if (op === "write") Deno.writeTextFileSync(arg, "x");
    out[name] = "ok";
  } catch (e) {
    out[name] = e.name;
  }
}
console.log(JSON.stringify(out));
EOF

check_worker_permissions() {
  local args flags seen expected
  # The command line of the worker's `deno run` (a child of deno task, under tini).
  args=$(podman exec "$worker_c" sh -c '
    for d in /proc/[0-9]*; do
      set -- $(tr "\000" " " < "$d/cmdline" 2>/dev/null)
      if [ "${1##*/}" = deno ] && [ "${2:-}" = run ]; then shift 2; echo "$*"; exit 0; fi
    done
    exit 1') || {
    why="no deno run process in the worker container"
    return 1
  }
  read -r -a flags <<<"$args"
  unset 'flags[${#flags[@]}-1]' # the main module
  echo "    worker runs: deno run ${flags[*]} .../llm_worker/main.ts"
  [[ " ${flags[*]} " == *" --allow-read=/data/images "* ]] || {
    why="read permission is not exactly /data/images"
    return 1
  }
  [[ " ${flags[*]} " != *" --allow-write"* && " ${flags[*]} " != *" -A "* &&
    " ${flags[*]} " != *" --allow-all "* ]] || {
    why="the worker may write"
    return 1
  }
  seen=$(podman exec -i "$worker_c" deno run "${flags[@]}" - "$(jq -cn --arg img "$image_path" '[
      ["read an uploaded image", "read", $img],
      ["list /data/images", "readdir", "/data/images"],
      ["read /etc/passwd", "read", "/etc/passwd"],
      ["read its own code", "read", "/app/deno.json"],
      ["read /proc/1/environ", "read", "/proc/1/environ"],
      ["write /data/images", "write", "/data/images/probe.txt"],
      ["write /tmp", "write", "/tmp/probe.txt"]
    ]')" <<<"$PROBE" 2>&1) || {
    why="probe failed: $seen"
    return 1
  }
  expected='{"read an uploaded image":"ok","list /data/images":"ok","read /etc/passwd":"NotCapable","read its own code":"NotCapable","read /proc/1/environ":"NotCapable","write /data/images":"NotCapable","write /tmp":"NotCapable"}'
  [ "$seen" = "$expected" ] || {
    why="under the worker's flags: $seen"
    return 1
  }
}

check_readonly_mount() {
  local out rw
  rw=$(podman inspect --format '{{range .Mounts}}{{if eq .Destination "/data/images"}}{{.RW}}{{end}}{{end}}' "$worker_c")
  [ "$rw" = false ] || {
    why="/data/images is mounted with RW=$rw"
    return 1
  }
  # Even root, and even Deno with --allow-write, cannot write to the read-only mount.
  if out=$(podman exec --user root "$worker_c" sh -c 'echo x > /data/images/root-probe' 2>&1); then
    why="root wrote to /data/images"
    return 1
  fi
  [[ $out == *"Read-only file system"* ]] || {
    why="root's write failed, but not as read-only: $out"
    return 1
  }
  out=$(podman exec -i "$worker_c" deno run --allow-write=/data/images - \
    '[["write", "write", "/data/images/deno-probe"]]' <<<"$PROBE" 2>&1) || true
  [[ $out == *'"write":"'* && $out != *'"write":"ok"'* ]] || {
    why="deno --allow-write=/data/images: $out"
    return 1
  }
}

# Consumers of llm:intent in llm-worker-group, one name a line.
intent_consumers() {
  podman exec "$redis_c" redis-cli --raw XINFO CONSUMERS llm:intent llm-worker-group |
    awk 'prev == "name" {print} {prev = $0}'
}

check_scale() {
  local containers c hosts=() consumers h i missing blocked res
  if ! compose up -d --scale llm-worker=2 >"$P/compose-scale.log" 2>&1; then
    show_tail "$P/compose-scale.log"
    why="docker-compose up --scale failed"
    return 1
  fi
  mapfile -t containers < <(compose ps -q llm-worker)
  if [ "${#containers[@]}" != 2 ]; then
    why="${#containers[@]} llm-worker containers"
    return 1
  fi
  for c in "${containers[@]}"; do
    if [ "$(podman inspect --format '{{.State.Running}}' "$c")" != true ]; then
      why="worker $c is not running"
      return 1
    fi
    hosts+=("$(podman exec "$c" cat /etc/hostname)")
  done
  if [ "${hosts[0]}" = "${hosts[1]}" ]; then
    why="both workers have the host name ${hosts[0]}"
    return 1
  fi
  # Both workers are up once each one's reader blocks in XREADGROUP (CLIENT LIST names it
  # llm-worker-reader:<consumer>).
  for ((i = 0; i < 60; i++)); do
    blocked=$(podman exec "$redis_c" redis-cli CLIENT LIST | grep 'cmd=xreadgroup' |
      grep -o 'name=llm-worker-reader:[^ ]*' || true)
    missing=0
    for h in "${hosts[@]}"; do
      grep -q "name=llm-worker-reader:$h-" <<<"$blocked" || missing=1
    done
    [ "$missing" = 0 ] && break
    sleep 0.5
  done
  if [ "$missing" = 1 ]; then
    why="not both workers (${hosts[*]}) are reading after 30 s"
    return 1
  fi
  # A consumer appears in the group when Redis first hands it an entry (Redis 7.0, the stand-in,
  # does not create one for a read that only blocks). Blocked readers are served in order, so two
  # jobs in a row reach both workers; a few more are sent if a worker came back to the queue first.
  for ((i = 0; i < 60; i++)); do
    if ((i % 10 == 0)); then
      res=$(json POST /llm_jobs \
        '{"job_type": "intent_classify", "payload": {"query": "scale"}, "user_id": 12345}')
      [ "$(status_of "$res")" = 201 ] || {
        why="POST /llm_jobs answered $(status_of "$res")"
        return 1
      }
      if ((i == 0)); then
        res=$(json POST /llm_jobs \
          '{"job_type": "intent_classify", "payload": {"query": "scale"}, "user_id": 12345}')
      fi
    fi
    consumers=$(intent_consumers)
    missing=0
    for h in "${hosts[@]}"; do
      grep -q "^$h-" <<<"$consumers" || missing=1
    done
    [ "$missing" = 0 ] && break
    sleep 0.5
  done
  echo "    consumers of llm:intent in llm-worker-group: $(tr '\n' ' ' <<<"$consumers")"
  if [ "$missing" = 1 ]; then
    why="not every worker (${hosts[*]}) has a consumer after 30 s"
    return 1
  fi
}

check_down() {
  local left
  if ! COMPOSE_LIMIT=180 compose down -v --timeout 20 >"$P/compose-down.log" 2>&1; then
    show_tail "$P/compose-down.log"
    why="docker-compose down -v failed"
    return 1
  fi
  stack_up=""
  left=$(
    podman ps -a --filter "label=com.docker.compose.project=$project" --format 'container {{.Names}}'
    podman volume ls --format '{{.Name}}' | grep "^${project}_" | sed 's/^/volume /' || true
    podman network ls --format '{{.Name}}' | grep "^${project}_" | sed 's/^/network /' || true
  )
  [ -z "$left" ] || {
    why="left behind: $(tr '\n' ' ' <<<"$left")"
    return 1
  }
}

# --- main -----------------------------------------------------------------------------------------

require_root
step "install the engine's packages" install_packages
setup_engine
log "engine state in $P"
step "build the stand-in base images" build_standins
step "start podman system service" start_service
health_loop 3>&- 4>&- &
health_pid=$!
step "copy the project and write its .env" prepare_project

check "compose up --build: both images built from a clean state, the stack started" check_compose_up
if [ -z "$up_ok" ]; then exit 1; fi
step "start the fake LLM on the host" start_fake_llm
log "checks"
check "core image starts with --network none: dependencies cached at build time" \
  check_offline "$core_image" core/main.ts "$project-e2e-offline-core" "core listening"
check "worker image starts with --network none: dependencies cached at build time" \
  check_offline "$worker_image" llm_worker/main.ts "$project-e2e-offline-worker" \
  "llm worker starting"
check "redis and core report healthy; the worker started only after both" check_health_order
check "smoke test: POST /llm_jobs 201, job completed, llm_intent_result on notify:telegram" \
  check_smoke
image_path=""
check "uploaded image tagged by the worker through the image-data volume" check_image_tag
if [ -n "$image_path" ]; then
  check "worker's deno flags: reads only /data/images, writes nothing" check_worker_permissions
else
  fail "worker's deno flags: reads only /data/images, writes nothing (no uploaded image)"
fi
check "image-data is read-only in the worker, even for root" check_readonly_mount
check "--scale llm-worker=2: two consumers with different names in llm-worker-group" check_scale
if [ "$failed" -gt 0 ]; then diagnostics; fi
check "down -v leaves no container, volume or network of the project" check_down
