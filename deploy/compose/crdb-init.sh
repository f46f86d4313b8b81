#!/bin/bash
# Initializes the three-node CockroachDB of docker-compose.yaml and creates
# the `dunder` database. Runs in the cockroachdb/cockroach image at every
# `docker compose up`: the first run initializes the cluster, later runs
# find it initialized. Retries while the nodes are still starting.
set -u
cockroach=/cockroach/cockroach

for attempt in $(seq 1 60); do
    if output=$("$cockroach" init --insecure --host=crdb-1 2>&1); then
        echo "cluster initialized"
        break
    fi
    if [[ $output == *"already been initialized"* ]]; then
        echo "cluster already initialized"
        break
    fi
    if [[ $attempt == 60 ]]; then
        echo "cannot initialize the cluster: $output" >&2
        exit 1
    fi
    sleep 2
done

for attempt in $(seq 1 60); do
    if "$cockroach" sql --insecure --host=crdb-1 \
        -e 'CREATE DATABASE IF NOT EXISTS dunder'; then
        exit 0
    fi
    sleep 2
done
echo "cannot create the dunder database" >&2
exit 1
