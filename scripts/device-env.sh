#!/bin/sh
# Sourced on a GPU machine that lacks bytelm's runtime libraries: unpacks the Debian packages
# carried in .devdeps/ into /tmp/devdeps and points the loader at them.
mkdir -p /tmp/devdeps
for f in .devdeps/*.deb; do dpkg -x "$f" /tmp/devdeps; done
export LD_LIBRARY_PATH=/tmp/devdeps/usr/lib/x86_64-linux-gnu:/tmp/devdeps/usr/lib/x86_64-linux-gnu/openblas-pthread${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
