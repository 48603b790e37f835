#!/bin/sh
# Installs the bot's npm dependencies into a cache folder outside the
# repository (node_modules is never committed); the runner points NODE_PATH
# at it. Idempotent: reinstalls only when package.json changed.
#
#   tests/e2e/bots/djs_bot/setup.sh [DIR]   (default /var/cache/argus-e2e/djs)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-/var/cache/argus-e2e/djs}
mkdir -p "$dir"
if [ -d "$dir/node_modules/discord.js" ] && cmp -s "$here/package.json" "$dir/package.json"; then
    exit 0
fi
cp "$here/package.json" "$dir/package.json"
npm install --prefix "$dir" --no-audit --no-fund --omit=dev --loglevel=error
