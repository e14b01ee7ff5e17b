#!/usr/bin/env bash
# Installs everything crd needs on a fresh Debian/Ubuntu machine with Go, builds bin/crd and fetches the default
# backbone weights. Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }
. scripts/lib.sh

# System packages: a C compiler for cgo, OpenBLAS, libjpeg-turbo's TurboJPEG library (JPEGs decoded as Pillow decodes
# them, 4-5x faster than Go's image/jpeg), npm (the default backbone's weights come from an npm package), and chromium
# (the web page of `crd serve` is tested in a real headless browser).
missing=()
command -v gcc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
if ! { [ -e /usr/include/x86_64-linux-gnu/cblas.h ] || [ -e /usr/include/cblas.h ] || ls /usr/include/*/cblas.h >/dev/null 2>&1 ||
       ls /usr/include/openblas/cblas.h >/dev/null 2>&1; } || ! ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so '; then
  missing+=(libopenblas-dev)
fi
{ [ -e /usr/include/turbojpeg.h ] && ldconfig -p 2>/dev/null | grep -q 'libturbojpeg\.so '; } || missing+=(libturbojpeg0-dev)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  apt_install "${missing[@]}" || exit 1
fi

command -v go >/dev/null 2>&1 || { log "Go is not installed (need Go 1.26 or newer): see the README"; exit 1; }

log "downloading Go modules"
go mod download

log "building bin/crd"
go build -o bin/crd ./cmd/crd

log "fetching the default backbone weights (inception_v3, from the npm package nsfwjs@4.4.0)"
bin/crd backbone fetch inception_v3
