#!/usr/bin/env bash
# Makes the dbgsym packages cpack 3.25 writes what Debian's are (cpack's post-build step,
# cmake/RedpacketDbgsym.cmake): an md5sums file with paths relative to the root (cpack lists
# its own temporary paths), .debug files 0644, and /usr/share/doc/<pkg>-dbgsym a symlink to the
# doc directory of the package it Depends on exactly, as dh_strip makes it (copyright and
# changelog are that package's).
# Usage: fix-dbgsym.sh FILE.ddeb...
set -euo pipefail
for ddeb in "$@"; do
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    dpkg-deb -R "$ddeb" "$work/pkg"
    package=$(dpkg-deb -f "$ddeb" Package)
    mkdir -p "$work/pkg/usr/share/doc"
    ln -s "${package%-dbgsym}" "$work/pkg/usr/share/doc/$package"
    find "$work/pkg/usr/lib/debug" -type f -exec chmod 0644 {} +
    (cd "$work/pkg" && find usr -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum) \
        >"$work/pkg/DEBIAN/md5sums"
    chmod 0644 "$work/pkg/DEBIAN/md5sums"
    dpkg-deb --root-owner-group -Zxz -z3 -b "$work/pkg" "$ddeb" >/dev/null
    rm -rf "$work"
    trap - EXIT
done
