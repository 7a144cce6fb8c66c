# Sourced by scripts/test: make sure the real services and tools the tests use are there:
# PostgreSQL and Mosquitto running on loopback, Debian's Chromium for the browser tests, Node.js
# for Playwright, Python with venv for Amazon's SDK, HAProxy. Missing ones come from Debian's packages.

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

apt_install() {
    if [ "$(id -u)" != 0 ]; then
        echo "scripts/test: $* is not running and installing it needs root" >&2
        return 1
    fi
    if [ -z "${RASK_APT_UPDATED:-}" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        RASK_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for_port() {
    for _ in $(seq 1 50); do
        port_open "$1" && return 0
        sleep 0.2
    done
    echo "scripts/test: nothing answers on 127.0.0.1:$1" >&2
    return 1
}

ensure_postgres() {
    port_open 5432 && return 0
    echo "scripts/test: starting PostgreSQL" >&2
    command -v pg_ctlcluster >/dev/null || apt_install postgresql
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    # The tests connect as postgres over TCP on loopback, without a password.
    if ! grep -q "rask-tests" "$hba"; then
        sed -i '1i host all all 127.0.0.1/32 trust # rask-tests\nhost all all ::1/128 trust # rask-tests' "$hba"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    wait_for_port 5432
    su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='test'\"" | grep -q 1 \
        || su postgres -c "createdb test"
}

ensure_mosquitto() {
    port_open 1883 && return 0
    echo "scripts/test: starting Mosquitto" >&2
    command -v mosquitto >/dev/null || apt_install mosquitto
    mosquitto -d -c /etc/mosquitto/mosquitto.conf
    wait_for_port 1883
}

ensure_browser_tools() {
    [ -x /usr/bin/chromium ] || { echo "scripts/test: installing chromium" >&2; apt_install chromium; }
    command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
    bash tests/browser/ensure.sh
}

# HAProxy, for the test of several instances behind a load balancer: the binary only (the
# test starts its own, on loopback ports of its own); Debian's service is stopped.
ensure_haproxy() {
    command -v haproxy >/dev/null && return 0
    echo "scripts/test: installing haproxy" >&2
    apt_install haproxy
    service haproxy stop >/dev/null 2>&1 || true
}

ensure_python() {
    command -v python3 >/dev/null || apt_install python3
    python3 -m venv --help >/dev/null 2>&1 || apt_install python3-venv
}

# Each store test makes its own PostgreSQL database; drop the ones earlier runs left.
drop_test_databases() {
    command -v psql >/dev/null || return 0
    local url="${RASK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
    psql "$url" -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'rask\_test\_%'" 2>/dev/null |
        while read -r db; do
            [ -n "$db" ] && psql "$url" -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1
        done
    return 0
}
