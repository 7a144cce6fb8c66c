# Sourced by scripts/test: the Python environment the tests use, made once under target/.
make_python_env() {
    local venv=target/rask-python
    if ! "$venv/bin/python" -c "import ask_sdk_core, requests_oauthlib" 2>/dev/null; then
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install -q -r tests/python/requirements.txt
    fi
}
