#!/usr/bin/env bash
# Quick start: install what is missing, build, and run harkd on its embedded
# default (SQLite in ./data/, the rules in ./rules/, 127.0.0.1:50051).
# Extra arguments go to harkd (see build/server/harkd --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
mkdir -p data
echo "==> starting harkd (Ctrl-C stops it)"
echo "    listen:   127.0.0.1:50051"
echo "    database: $(pwd)/data/hark.db"
echo "    API keys: $(pwd)/data/keys (hashes), $(pwd)/data/hark-cli.keys (for the hark CLI)"
exec build/server/harkd --listen=127.0.0.1:50051 --db=data/hark.db \
  --rules=rules --keys=data/keys "$@"
