#!/usr/bin/env bash
# make run: deploytokens on the embedded store, and a local CNCF distribution
# registry whose token realm is deploytokens. Ctrl-C stops both.
set -euo pipefail
DATA=${DEPLOYTOKENS_DATA_DIR:-./data}
LISTEN=${DEPLOYTOKENS_LISTEN:-127.0.0.1:8080}
PORT=${LISTEN##*:}
REGISTRY_ADDR=${REGISTRY_ADDR:-127.0.0.1:5000}
REGISTRY_HOST=localhost:${REGISTRY_ADDR##*:}
export DEPLOYTOKENS_DATA_DIR=$DATA DEPLOYTOKENS_LISTEN=$LISTEN
export DEPLOYTOKENS_EXTERNAL_URL=${DEPLOYTOKENS_EXTERNAL_URL:-http://localhost:$PORT}
export DEPLOYTOKENS_REGISTRY_HOST=${DEPLOYTOKENS_REGISTRY_HOST:-$REGISTRY_HOST}
SERVICE=${DEPLOYTOKENS_REGISTRY_SERVICE:-container_registry}
ISSUER=${DEPLOYTOKENS_REGISTRY_ISSUER:-deploytokens}

mkdir -p "$DATA/registry/storage"
pids=()
cleanup() { trap - INT TERM EXIT; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup INT TERM EXIT

bin/deploytokens serve &
pids+=($!)
for _ in $(seq 100); do
  curl -fsS "http://$LISTEN/-/health" >/dev/null 2>&1 && break
  kill -0 "${pids[0]}" 2>/dev/null || { echo "deploytokens did not start" >&2; exit 1; }
  sleep 0.1
done

# The registry reads its keys at start: export them from the running server.
bin/deploytokens keys jwks --from "http://$LISTEN" >"$DATA/registry/jwks.json"
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
    jwks: $(cd "$DATA/registry" && pwd)/jwks.json
YAML
bin/tools/registry serve "$DATA/registry/config.yml" 2>"$DATA/registry/registry.log" &
pids+=($!)

cat <<MSG

deploytokens: $DEPLOYTOKENS_EXTERNAL_URL   (admin token: $DATA/admin-token)
registry:     $REGISTRY_HOST              (log: $DATA/registry/registry.log)

Try it (see the README's walkthrough for creating a project and a token):
  export TOKEN=\$(cat $DATA/admin-token)
  podman login $REGISTRY_HOST --tls-verify=false -u <username> -p <token>
  docker login $REGISTRY_HOST -u <username> -p <token>     # add $REGISTRY_HOST to insecure-registries

Ctrl-C stops both.
MSG
wait -n "${pids[@]}"
