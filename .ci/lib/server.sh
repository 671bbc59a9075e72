# Sourced by CI scripts: start_server DATABASE WORKDIR starts target/debug/dialplane on a free
# loopback port and sets `addr` (host:port) and `key` (the bootstrap key it printed); the caller
# stops it with stop_server (also run on exit).
start_server() {
    local database=$1 work=$2
    # No URL document is fetched and no webhook delivered: the URLs schemathesis makes up must not
    # leave this machine.
    target/debug/dialplane serve --listen 127.0.0.1:0 --metrics-listen off --database "$database" \
        --kb-url-fetch false --webhook-deliver false \
        >"$work/stdout" 2>"$work/stderr" &
    server=$!
    addr=""
    for _ in $(seq 100); do
        addr=$(grep -o 'listening on http://[0-9.:]*' "$work/stderr" | head -1 | sed 's|listening on http://||') || true
        [ -n "$addr" ] && break
        kill -0 "$server" 2>/dev/null || { cat "$work/stderr" >&2; return 1; }
        sleep 0.1
    done
    [ -n "$addr" ] || { echo "the server did not start" >&2; cat "$work/stderr" >&2; return 1; }
    key=$(grep -o 'dp_[A-Za-z0-9_-]\{43\}' "$work/stdout" | head -1)
    [ -n "$key" ] || { echo "the server printed no bootstrap key" >&2; return 1; }
}

stop_server() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
}
