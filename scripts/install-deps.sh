#!/bin/sh
# Installs the Debian packages bytelm builds and tests against, the word list (wamerican:
# /usr/share/dict/words) that `bytelm eval tasks` and `eval cute --write-train` use, and
# WordNet's database (wordnet-base: /usr/share/wordnet), where `eval cute --write-train
# --meanings` finds related words for CUTE's sem task. Safe to run again.
set -e
PKGS="build-essential pkg-config libzstd-dev zstd libutf8proc-dev check libsubunit-dev libopenblas-dev libcjson-dev clang libclang-rt-14-dev valgrind wamerican wordnet-base"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && { echo "install-deps: all packages present"; exit 0; }
echo "install-deps: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
