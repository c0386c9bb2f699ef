#!/usr/bin/env bash
# make run: deploytokens on the embedded store, and a local CNCF distribution
# registry whose token realm is deploytokens. Ctrl-C stops both.
set -euo pipefail
DATA=${DEPLOYTOKENS_DATA_DIR:-./data}
LISTEN=${DEPLOYTOKENS_LISTEN:-127.0.0.1:8080}
PORT=${LISTEN##*:}
# reach ADDR: ADDR with a host to connect to where it names none (":8080",
# "0.0.0.0:8080", "[::]:8080").
reach() {
  local h=${1%:*}
  case $h in "" | 0.0.0.0) h=127.0.0.1 ;; "[::]") h="[::1]" ;; esac
  echo "$h:${1##*:}"
}
# Not REGISTRY_*: the registry reads those as overrides of its own config.
REGISTRY_ADDR=${RUN_REGISTRY_ADDR:-127.0.0.1:5000}
REGISTRY_HOST=localhost:${REGISTRY_ADDR##*:}
export DEPLOYTOKENS_DATA_DIR=$DATA DEPLOYTOKENS_LISTEN=$LISTEN
export DEPLOYTOKENS_EXTERNAL_URL=${DEPLOYTOKENS_EXTERNAL_URL:-http://localhost:$PORT}
export DEPLOYTOKENS_REGISTRY_HOST=${DEPLOYTOKENS_REGISTRY_HOST:-$REGISTRY_HOST}
# The signing mode that never needs the registry restarted: it trusts the
# server's root certificate, and leaf keys under it rotate freely.
export DEPLOYTOKENS_SIGNING_MODE=${DEPLOYTOKENS_SIGNING_MODE:-x5c}
# One machine to try things on: webhooks may point at a receiver on it.
export DEPLOYTOKENS_WEBHOOK_ALLOW_PRIVATE=${DEPLOYTOKENS_WEBHOOK_ALLOW_PRIVATE:-true}
SERVICE=${DEPLOYTOKENS_REGISTRY_SERVICE:-container_registry}
ISSUER=${DEPLOYTOKENS_REGISTRY_ISSUER:-deploytokens}

# Something already answering on an address would pass for ours below.
for addr in "$(reach "$LISTEN"):DEPLOYTOKENS_LISTEN" "$(reach "$REGISTRY_ADDR"):RUN_REGISTRY_ADDR"; do
  a=${addr%:*} setting=${addr##*:}
  # curl exits 7 when the connection is refused and 28 when it times out:
  # nothing answers there. Any other answer, HTTP or not, is somebody.
  rc=0
  curl -s -o /dev/null --connect-timeout 1 --max-time 2 "http://$a/" 2>/dev/null || rc=$?
  if [[ $rc != 7 && $rc != 28 ]]; then
    echo "make run: $a is already in use (another make run? stop it with Ctrl-C in its terminal), or choose another address with $setting=host:port" >&2
    exit 1
  fi
done

mkdir -p "$DATA/registry/storage"
# The request log goes to a file: in the terminal it would scroll the
# banner away.
LOG=$DATA/deploytokens.log
pids=()
cleanup() { trap - INT TERM EXIT; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
# Ctrl-C is how make run is meant to end: stop both and exit 0, so make
# reports no error. The servers get SIGINT from the terminal too, and
# deploytokens drains its requests.
stopped() { cleanup; echo; echo "make run: stopped"; exit 0; }
trap cleanup EXIT
trap stopped INT TERM

# wait_up PID URL: until URL answers (any HTTP status), or process PID ends.
wait_up() {
  for _ in $(seq 100); do
    kill -0 "$1" 2>/dev/null || return 1
    curl -sS -o /dev/null "$2" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

bin/deploytokens serve >>"$LOG" 2>&1 &
pids+=($!)
if ! wait_up "${pids[0]}" "http://$(reach "$LISTEN")/-/health"; then
  echo "make run: deploytokens did not start; the end of $LOG:" >&2
  tail -n 5 "$LOG" >&2
  exit 1
fi

# The registry reads its keys at start: export them from the running
# server, the root certificate (x5c) or every public key (jwks).
if [[ $DEPLOYTOKENS_SIGNING_MODE == x5c ]]; then
  bin/deploytokens keys cert --root --from "http://$(reach "$LISTEN")" >"$DATA/registry/root.pem"
  KEYS="rootcertbundle: $(cd "$DATA/registry" && pwd)/root.pem"
else
  bin/deploytokens keys jwks --from "http://$(reach "$LISTEN")" >"$DATA/registry/jwks.json"
  KEYS="jwks: $(cd "$DATA/registry" && pwd)/jwks.json"
fi
cat >"$DATA/registry/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $(cd "$DATA/registry/storage" && pwd)
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
auth:
  token:
    realm: $DEPLOYTOKENS_EXTERNAL_URL/jwt/auth
    service: $SERVICE
    issuer: $ISSUER
    $KEYS
YAML
bin/tools/registry serve "$DATA/registry/config.yml" >"$DATA/registry/registry.log" 2>&1 &
pids+=($!)
if ! wait_up "${pids[1]}" "http://$(reach "$REGISTRY_ADDR")/v2/"; then
  echo "make run: the registry did not start; the end of $DATA/registry/registry.log:" >&2
  tail -n 5 "$DATA/registry/registry.log" >&2
  exit 1
fi

cat <<MSG

deploytokens: $DEPLOYTOKENS_EXTERNAL_URL   (admin token: $DATA/admin-token; log: $LOG)
registry:     $REGISTRY_HOST              (log: $DATA/registry/registry.log)

Try it (see the README's walkthrough for creating a project and a token):
  export TOKEN=\$(cat $DATA/admin-token)
  podman login $REGISTRY_HOST --tls-verify=false -u <username> -p <token>
  docker login $REGISTRY_HOST -u <username> -p <token>     # add $REGISTRY_HOST to insecure-registries

Ctrl-C stops both; tail -f $LOG follows the requests.
MSG
# Only one of them ending on its own is an error; Ctrl-C ends in stopped.
status=0
wait -n "${pids[@]}" || status=$?
echo "make run: a server stopped (exit $status); see $LOG and $DATA/registry/registry.log" >&2
exit 1
