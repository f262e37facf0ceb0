#!/usr/bin/env bash
# Installs code-server (a real VS Code server and web workbench) into .cache/code-server without
# internet downloads of its own: its postinstall would fetch ripgrep from GitHub, so scripts are
# skipped and the native modules rebuilt against Node's headers. Idempotent. Needs the Debian
# packages installed by .ci/run (libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev
# pkg-config ripgrep chromium). Facts: ../shared/notes/vscode-e2e.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$root/.cache/code-server"
version=4.100.3   # VS Code 1.100.3; newer code-server needs Node 24
marker="$dir/.installed-$version"
[ -f "$marker" ] && exit 0
export npm_config_nodedir="${npm_config_nodedir:-/usr}"
export npm_config_yes=true
mkdir -p "$dir"
cd "$dir"
[ -f package.json ] || echo '{"name":"code-server-tools","private":true}' > package.json
npm install --ignore-scripts --no-audit --no-fund --loglevel=error "code-server@$version"
cd node_modules/code-server/lib/vscode
npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error
mkdir -p node_modules/@vscode/ripgrep/bin
ln -sf "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
npm rebuild --loglevel=error node-pty @parcel/watcher @vscode/spdlog kerberos native-watchdog @vscode/deviceid
ln -sfn node_modules node_modules.asar
(cd extensions && npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
cd "$dir"
npm rebuild --loglevel=error argon2
touch "$marker"
echo "code-server $version installed in $dir"
