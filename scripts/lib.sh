# Shell helpers shared by the scripts; source it after defining log().

# apt_install installs Debian packages as root, or through sudo when it needs no password. When it can do neither
# it says which packages are missing and how to install them, and returns 1.
apt_install() {
  if [ "$(id -u)" = 0 ]; then
    log "installing Debian packages: $*"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    log "installing Debian packages with sudo: $*"
    sudo DEBIAN_FRONTEND=noninteractive apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    log "missing packages: $*"
    log "install them with: sudo apt-get install $*"
    return 1
  fi
}
