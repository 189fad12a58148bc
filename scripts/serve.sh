#!/usr/bin/env bash
# Serve Dagster's UI and Superset on localhost for the warehouse that `make run` published.
# Ctrl-C stops both. Inputs come from the Makefile (LANDING, WAREHOUSE, DATA, CONFIG, ports).
set -euo pipefail
cd "$(dirname "$0")/.."

abs() { python3 -c 'import os, sys; print(os.path.abspath(sys.argv[1]))' "$1"; }
warehouse=$(abs "$WAREHOUSE")
state="${warehouse%.*}.state"

export DAGSTER_HOME="$state/dagster"
export SBM_LANDING_DIR SBM_WAREHOUSE SBM_STATE_DIR SBM_CONFIG
SBM_LANDING_DIR=$(abs "$LANDING")
SBM_WAREHOUSE=$warehouse
SBM_STATE_DIR=$state
SBM_CONFIG=${CONFIG:+$(abs "$CONFIG")}

pids=()
# Each server runs in its own process group (set -m) so that stopping reaches its children
# (dagster dev's webserver, daemon and code server). SIGINT first, as Ctrl-C would; then KILL.
set -m
stop() {
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do kill -INT -- "-$pid" 2>/dev/null || true; done
    for _ in $(seq 30); do
        alive=0
        for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && return
        sleep 0.5
    done
    for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
}
trap stop EXIT INT TERM

.venv/bin/python -m orchestration.instance "$DAGSTER_HOME" >/dev/null  # queue limits, storage
.venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p "$DAGSTER_PORT" &
pids+=($!)
SUPERSET_STATE_DIR="$(abs "$DATA")/superset" WAREHOUSE_PATH="$warehouse" \
    superset/.venv/bin/python superset/provision.py serve --port "$SUPERSET_PORT" &
pids+=($!)

cat <<MSG

  Dagster   http://127.0.0.1:$DAGSTER_PORT   (run history of this warehouse: $DAGSTER_HOME)
  Superset  http://127.0.0.1:$SUPERSET_PORT   (users admin, viewer, analyst; passwords in $(abs "$DATA")/superset/*_password)
  Ctrl-C stops both.

MSG
wait -n "${pids[@]}"
