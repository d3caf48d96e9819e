#!/bin/sh
# Installs (or uninstalls) bytelm under a prefix; `make install PREFIX=...` and `make uninstall`
# call it with what the build made. The files, and nothing else:
#   PREFIX/include/bytelm.h
#   PREFIX/lib/libbytelm.so.VERSION, libbytelm.so.MAJOR and libbytelm.so (links), libbytelm.a
#   PREFIX/lib/pkgconfig/bytelm.pc
#   PREFIX/bin/bytelm
#   PREFIX/share/doc/bytelm/README.md
# usage: install.sh install|uninstall PREFIX BUILD BIN VERSION "LDLIBS"
set -eu
[ $# -eq 6 ] || { echo "usage: install.sh install|uninstall PREFIX BUILD BIN VERSION LDLIBS" >&2; exit 2; }
action=$1 prefix=$2 build=$3 bin=$4 version=$5 ldlibs=$6
major=${version%%.*}
lib=$prefix/lib
files="$prefix/include/bytelm.h $lib/libbytelm.so.$version $lib/libbytelm.so.$major $lib/libbytelm.so
$lib/libbytelm.a $lib/pkgconfig/bytelm.pc $prefix/bin/bytelm $prefix/share/doc/bytelm/README.md"

case $action in
install)
    for f in "$build/libbytelm.so.$version" "$build/libbytelm.a" "$bin" include/bytelm.h README.md; do
        [ -f "$f" ] || { echo "install.sh: $f is missing (run make first)" >&2; exit 1; }
    done
    mkdir -p "$prefix/include" "$lib/pkgconfig" "$prefix/bin" "$prefix/share/doc/bytelm"
    cp include/bytelm.h "$prefix/include/bytelm.h"
    cp "$build/libbytelm.so.$version" "$lib/libbytelm.so.$version"
    ln -sf "libbytelm.so.$version" "$lib/libbytelm.so.$major"
    ln -sf "libbytelm.so.$major" "$lib/libbytelm.so"
    cp "$build/libbytelm.a" "$lib/libbytelm.a"
    cp "$bin" "$prefix/bin/bytelm"
    cp README.md "$prefix/share/doc/bytelm/README.md"
    # Libs.private and Requires.private serve `pkg-config --static` (linking libbytelm.a)
    cat > "$lib/pkgconfig/bytelm.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: bytelm
Description: Byte-level Mamba language models: bits per byte and generation from C
Version: $version
Libs: -L\${libdir} -lbytelm
Libs.private: -fopenmp $ldlibs
Cflags: -I\${includedir}
PC
    echo "installed bytelm $version under $prefix"
    ;;
uninstall)
    for f in $files; do rm -f "$f"; done
    rmdir "$prefix/share/doc/bytelm" 2>/dev/null || true
    echo "removed bytelm's files under $prefix"
    ;;
*)
    echo "install.sh: first argument must be install or uninstall" >&2
    exit 2
    ;;
esac
