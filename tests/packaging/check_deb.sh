#!/usr/bin/env bash
# The .deb packages of a build tree: cpack builds them, dpkg installs redpacketd into a scratch
# root (dependencies forced there: the root holds no libraries; apt-get checks them against
# this system instead), and the installed binaries, man pages and systemd unit are checked.
# Usage: check_deb.sh BUILD_DIR WORK_DIR
set -euo pipefail
build=$1
work=$2
rm -rf "$work"
mkdir -p "$work"
fail() { echo "check_deb: $*" >&2; exit 1; }

cpack --config "$build/CPackConfig.cmake" -B "$work" >"$work/cpack.log" 2>&1 ||
    { cat "$work/cpack.log" >&2; fail "cpack failed"; }
deb=$(ls "$work"/redpacketd_*.deb) || fail "no redpacketd .deb"
ls "$work"/libredpacket-dev_*.deb >/dev/null || fail "no libredpacket-dev .deb"

# Depends come from the binaries' libraries (dpkg-shlibdeps), and this system satisfies them.
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libuv1 libsystemd0 libssl3; do
    [[ $depends == *"$lib"* ]] || fail "Depends lacks $lib: $depends"
done
apt-get install --simulate "$deb" >"$work/apt.log" 2>&1 ||
    { cat "$work/apt.log" >&2; fail "apt-get cannot install $deb on this system"; }

root="$work/root"
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
touch "$root/var/lib/dpkg/status"
dpkg --root="$root" --log=/dev/null --force-depends --force-not-root -i "$deb" \
    >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i failed"; }
dpkg --root="$root" -s redpacketd | grep -qx "Status: install ok installed" ||
    fail "dpkg does not list redpacketd as installed"

# Every binary runs from the scratch root and names the build's commit.
expected=$("$build/daemon/redpacketd" --version)
for binary in redpacketd redpacket-audit redpacket-verify redpacket-load redpacket-echo; do
    [[ -x "$root/usr/bin/$binary" ]] || fail "/usr/bin/$binary not installed"
    version=$("$root/usr/bin/$binary" --version)
    [[ $version == "$binary ${expected#redpacketd }" ]] ||
        fail "$binary --version printed '$version', expected the build's '${expected#redpacketd }'"
    page="$root/usr/share/man/man1/$binary.1.gz"
    zcat "$page" | grep -q "^\.TH ${binary^^} \"1\"" || fail "no man page $page"
done
echo "installed: $("$root/usr/bin/redpacketd" --version)"

# The unit passes systemd's own checks, pointed at the installed binary and man pages
# (systemd-analyze verify fails on a missing executable or man page, warns on bad settings).
unit="$root/usr/lib/systemd/system/redpacketd.service"
[[ -f $unit ]] || fail "no systemd unit"
grep -qx "Type=notify" "$unit" || fail "the unit is not Type=notify"
sed "s|^ExecStart=/usr/bin/redpacketd|ExecStart=$root/usr/bin/redpacketd|" "$unit" \
    >"$work/redpacketd.service"
if ! MANPATH="$root/usr/share/man" systemd-analyze verify "$work/redpacketd.service" \
    >"$work/verify.log" 2>&1 || [[ -s "$work/verify.log" ]]; then
    cat "$work/verify.log" >&2
    fail "systemd-analyze verify found problems in the unit"
fi
[[ -f "$root/usr/share/doc/redpacketd/examples/redpacketd.json" ]] || fail "no example config"
"$root/usr/bin/redpacketd" --config "$root/usr/share/doc/redpacketd/examples/redpacketd.json" \
    --print-config >/dev/null || fail "the installed example config does not load"
echo "check_deb: ok"
