#!/usr/bin/env bash
# What `npm test` needs from the system, checked before anything runs: the integration suite
# rebuilds code-server's native modules (compiler, headers) and drives Debian's chromium, and the
# oracle tests read images with Pillow. Missing packages are installed when this runs as root (as
# .ci/run does); otherwise it stops at once and prints the one command that installs them.
#   .ci/preflight.sh               the packages `npm test` needs
#   .ci/preflight.sh --fixtures    also those `npm run fixtures:check` needs (torch, onnx)
#   .ci/preflight.sh --sudo        install through sudo when not root (CI)
set -euo pipefail

TEST_PACKAGES=(build-essential python3 python3-pil chromium ripgrep pkg-config libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev)
FIXTURE_PACKAGES=(python3-torch python3-onnx python3-numpy)

packages=("${TEST_PACKAGES[@]}")
use_sudo=0
for arg in "$@"; do
  case "$arg" in
    --fixtures) packages+=("${FIXTURE_PACKAGES[@]}") ;;
    --sudo) use_sudo=1 ;;
    *) echo "preflight: unknown option $arg" >&2; exit 2 ;;
  esac
done

if ! command -v dpkg >/dev/null 2>&1; then
  # Not Debian: name what is needed and go on; the tests that need it say so when they fail.
  echo "preflight: not a Debian system; the tests need the equivalents of: ${packages[*]}" >&2
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

install=(apt-get install -y --no-install-recommends "${missing[@]}")
if [ "$(id -u)" = 0 ] || { [ "$use_sudo" = 1 ] && command -v sudo >/dev/null 2>&1; }; then
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  echo "preflight: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" "${install[@]}" -qq >/dev/null
  exit 0
fi

echo "preflight: missing Debian packages: ${missing[*]}. Install them with:" >&2
echo "  sudo apt-get update && sudo ${install[*]}" >&2
exit 1
