#!/usr/bin/env bash
# Install everything the project needs, idempotently: the pinned node toolchain (anvil, forge, solc) with
# `npm ci`, and a Python virtual environment with the package and its test dependencies. Re-running it when
# nothing changed takes about a second. Usage: scripts/setup.sh [--system]   (--system: also apt packages
# the full test suite needs: PostgreSQL, Chromium and a CJK font for its Chinese pages; needs root)
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
apt_install() {
  if [ "$(id -u)" != 0 ]; then echo "setup: please install with your package manager: $*" >&2; return 1; fi
  if [ ! -f /tmp/.pl-apt-updated ]; then apt-get update -qq && touch /tmp/.pl-apt-updated; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  apt-get clean  # the downloaded packages (gigabytes with Chromium and PostgreSQL) are not needed once installed
}

if ! need node || ! need npm; then apt_install nodejs npm; fi
# The native fast path of the field hashes (ledger/formats/_hashcore.c, built by setup.py) needs a C compiler and
# OpenSSL's headers; without them the install leaves it out and the pure-Python code runs alone (same answers).
if ! need cc || [ ! -f /usr/include/openssl/sha.h ]; then
  apt_install gcc libssl-dev || echo "setup: no C compiler or OpenSSL headers: the pure-Python hashing runs alone" >&2
fi
if ! need python3; then echo "setup: Python 3.11+ is required" >&2; exit 1; fi

stamp_of() { sha256sum "$@" | sha256sum | cut -c1-16; }

npm_stamp=$(stamp_of package.json package-lock.json)
if [ "$(cat node_modules/.pl-stamp 2>/dev/null)" != "$npm_stamp" ]; then
  echo "setup: npm ci (anvil, forge, solc pinned in package-lock.json)" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$npm_stamp" > node_modules/.pl-stamp
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  python3 -m venv .venv
fi
# The Python dependencies, test tools included, are pinned with their hashes in requirements.lock (regenerate it
# after changing pyproject.toml's dependencies: pip-compile --extra=test --generate-hashes --strip-extras
# --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml); the project itself goes in
# editable, without dependencies of its own choosing.
py_stamp=$(stamp_of pyproject.toml requirements.lock setup.py ledger/formats/_hashcore.c)
if [ "$(cat .venv/.pl-stamp 2>/dev/null)" != "$py_stamp" ]; then
  echo "setup: pip install -r requirements.lock, then -e . --no-deps" >&2
  quiet() { grep -v "^WARNING: Location" || true; }
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | quiet || true  # an older pip also reads the lock
  # --no-compile: pip byte-compiles every file of every package (a third of the install's CPU), most of which
  # nothing imports (mypy's sources beside its compiled modules, for one); Python compiles what is imported, once
  .venv/bin/python -m pip install -q --no-compile --require-hashes -r requirements.lock 2>&1 | quiet
  .venv/bin/python -m pip install -q --no-deps -e . 2>&1 | quiet
  .venv/bin/python -m pip check >&2 # fail loudly if the lock and pyproject.toml disagree
  .venv/bin/python -c "import ledger, web3, solcx, fastapi" # fail loudly if the install did not work
  .venv/bin/python -c "from ledger.formats import canonical as c; print('setup: native hashing', 'on' if c.NATIVE else 'off (pure Python)')" >&2
  echo "$py_stamp" > .venv/.pl-stamp
fi
# Byte-compile what the library's processes import (only that: see --no-compile above). Python writes it itself on
# a first import, but not where PYTHONDONTWRITEBYTECODE is set (as in the sessions that develop this project): then
# every process compiled web3, SQLAlchemy and the rest from source each time it started, each replay and decide
# worker among them: ~1.4 of the ~2.5 CPU-s a replay worker took to import the library (bench/analysis.md, replay4).
# Its own stamp, so that an environment set up before this step gets it too.
if [ "$(cat .venv/.pl-bytecode 2>/dev/null)" != "$py_stamp" ]; then
  echo "setup: byte-compiling the modules the library imports" >&2
  env -u PYTHONDONTWRITEBYTECODE .venv/bin/python -c \
    "import ledger.cli, ledger.services.replay, ledger.services._replay_worker, ledger.services.decisions, api.main"
  echo "$py_stamp" > .venv/.pl-bytecode
fi

if [ "${1:-}" = "--system" ]; then
  if [ ! -x /usr/lib/postgresql/15/bin/initdb ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "setup: installing PostgreSQL (Debian package)" >&2
    apt_install postgresql
  fi
  if [ ! -x /usr/bin/chromium ]; then
    echo "setup: installing Chromium (Debian package) for the browser test" >&2
    apt_install chromium
  fi
  # without a CJK font Chromium draws the Chinese pages as boxes; WenQuanYi Zen Hei is the smallest that covers them
  if ! dpkg-query -W -f='${Status}' fonts-wqy-zenhei 2>/dev/null | grep -q "ok installed"; then
    echo "setup: installing a CJK font (Debian's fonts-wqy-zenhei) for the Chinese pages' screenshots" >&2
    apt_install fonts-wqy-zenhei
  fi
fi
