#!/usr/bin/env bash
# The .deb packages of a build tree, checked as an operator would take them:
#   1. cpack builds redpacketd, redpacket-tools, libredpacket-dev and two dbgsym packages;
#   2. lintian finds no error and no warning in any of them;
#   3. dpkg installs the three into a scratch root, running their maintainer scripts there
#      (--force-script-chrootless: DPKG_ROOT is set, so the postinst makes the secrets in the
#      root and leaves this system's users and systemd alone); dependencies are forced there
#      (the root holds no libraries; apt-get checks them against this system instead);
#   4. the binaries, man pages, unit (systemd-analyze verify) and packaged config are checked;
#   5. the unit's ExecStart runs with the packaged config rebased into the root, as the unit
#      would run it (its umask; as root, under an unprivileged user that owns the secrets and
#      the state directory, as the package's system user would): the hidden test
#      "[.package]" of redpacketd_tests logs in with the generated secret, claims, kill -9s the
#      daemon, starts it again and finds every acknowledged claim; a login without a token is
#      refused;
#   6. a purge removes the conffile and the generated secrets.
# Usage: check_deb.sh BUILD_DIR WORK_DIR DAEMON_TESTS
set -euo pipefail
build=$1
work=$2
daemon_tests=$3
rm -rf "$work"
mkdir -p "$work"
fail() { echo "check_deb: $*" >&2; exit 1; }

cpack --config "$build/CPackConfig.cmake" -B "$work" >"$work/cpack.log" 2>&1 ||
    { cat "$work/cpack.log" >&2; fail "cpack failed"; }
for package in redpacketd redpacket-tools libredpacket-dev; do
    ls "$work/${package}"_*.deb >/dev/null 2>&1 || fail "no $package .deb"
done
for package in redpacketd redpacket-tools; do
    ls "$work/${package}"-dbgsym_*.ddeb >/dev/null 2>&1 || fail "no $package-dbgsym .ddeb"
done
deb=$(ls "$work"/redpacketd_*.deb)

# lintian, errors and warnings (the one override is in packaging/debian/lintian-overrides.in).
command -v lintian >/dev/null || fail "lintian is not installed (cmake/install-deps.sh --tests installs it)"
if ! lintian --fail-on error,warning --display-level ">=warning" "$work"/*.deb "$work"/*.ddeb \
    >"$work/lintian.log" 2>&1; then
    cat "$work/lintian.log" >&2
    fail "lintian found errors or warnings"
fi
echo "lintian: no errors, no warnings in $(ls "$work"/*.deb "$work"/*.ddeb | wc -l) packages"

# Depends come from the binaries' libraries (dpkg-shlibdeps), and this system satisfies them.
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libuv1 libsystemd0 libssl3 adduser; do
    [[ $depends == *"$lib"* ]] || fail "Depends lacks $lib: $depends"
done
apt-get install --simulate "$work"/redpacketd_*.deb "$work"/redpacket-tools_*.deb \
    >"$work/apt.log" 2>&1 || { cat "$work/apt.log" >&2; fail "apt-get cannot install them here"; }
dpkg-deb -I "$deb" conffiles | grep -qx "/etc/redpacketd/redpacketd.json" ||
    fail "/etc/redpacketd/redpacketd.json is not a conffile"

# The root must be reachable by the unprivileged user of step 5: outside a 0700 clone.
scratch=$(mktemp -d /var/tmp/redpacket-deb.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
chmod 755 "$scratch"
root="$scratch/root"
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
touch "$root/var/lib/dpkg/status"
dpkg_root() {
    dpkg --root="$root" --log=/dev/null --force-depends --force-not-root \
        --force-script-chrootless "$@"
}
dpkg_root -i "$work"/redpacketd_*.deb "$work"/redpacket-tools_*.deb \
    "$work"/libredpacket-dev_*.deb >"$work/dpkg.log" 2>&1 ||
    { cat "$work/dpkg.log" >&2; fail "dpkg -i failed"; }
for package in redpacketd redpacket-tools libredpacket-dev; do
    dpkg --root="$root" -s "$package" | grep -qx "Status: install ok installed" ||
        fail "dpkg does not list $package as installed"
done

# The postinst made both secrets: 32 random bytes in hex, mode 0600.
for secret in auth-secret admin-token; do
    file="$root/etc/redpacketd/$secret"
    [[ -f $file ]] || fail "the postinst made no $file"
    [[ $(stat -c %a "$file") == 600 ]] || fail "$file has mode $(stat -c %a "$file"), not 600"
    grep -qxE '[0-9a-f]{64}' "$file" || fail "$file is not 64 hex digits"
done
cmp -s "$root/etc/redpacketd/auth-secret" "$root/etc/redpacketd/admin-token" &&
    fail "the two generated secrets are the same"

# Every binary runs from the scratch root and names the build's commit; its man page has the
# sections an operator reads.
expected=$("$build/daemon/redpacketd" --version)
for binary in redpacketd redpacket-audit redpacket-verify redpacket-load redpacket-echo; do
    [[ -x "$root/usr/bin/$binary" ]] || fail "/usr/bin/$binary not installed"
    version=$("$root/usr/bin/$binary" --version)
    [[ $version == "$binary ${expected#redpacketd }" ]] ||
        fail "$binary --version printed '$version', expected the build's '${expected#redpacketd }'"
    page="$root/usr/share/man/man1/$binary.1.gz"
    zcat "$page" | grep -q "^\.TH ${binary^^} \"1\"" || fail "no man page $page"
    for section in SYNOPSIS OPTIONS "EXIT STATUS" "SEE ALSO"; do
        zcat "$page" | grep -q "^\.SH \"\?$section" || fail "$page has no $section"
    done
    # At 80 columns every line fits and the footer reads "<name> <version>  <date>  <NAME>(1)".
    rendered=$(LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$page" 2>/dev/null | col -bx)
    width=$(LC_ALL=C.UTF-8 wc -L <<<"$rendered")  # display width: "•" is one column
    ((width <= 80)) || fail "$binary(1) has lines $width columns wide at MANWIDTH=80"
    footer=$(tail -n 1 <<<"$rendered")
    [[ $footer =~ ^$binary\ [0-9.]+\ +[A-Z][a-z]+\ [0-9]{4}\ +${binary^^}\(1\)$ ]] ||
        fail "$binary(1)'s footer at 80 columns is garbled: '$footer'"
done
for section in SIGNALS ENVIRONMENT FILES "HTTP ENDPOINTS"; do
    zcat "$root/usr/share/man/man1/redpacketd.1.gz" | grep -q "^\.SH \"\?$section" ||
        fail "redpacketd(1) has no $section"
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
# The example holds every default, and the defaults need a way to log in: here, a secret.
REDPACKETD_AUTH_SECRET=example "$root/usr/bin/redpacketd" \
    --config "$root/usr/share/doc/redpacketd/examples/redpacketd.json" --print-config >/dev/null ||
    fail "the installed example config does not load"

# --- 5. the unit's ExecStart, in the root ------------------------------------------------------
# The packaged config with its absolute paths moved into the root.
config="$scratch/redpacketd.json"
sed -e "s|\"/etc/redpacketd/|\"$root/etc/redpacketd/|g" \
    -e "s|\"/var/lib/redpacketd|\"$root/var/lib/redpacketd|g" \
    "$root/etc/redpacketd/redpacketd.json" >"$config"
grep -q "\"journal_dir\": \"$root/var/lib/redpacketd/journal\"" "$config" ||
    fail "the packaged config journals nowhere under /var/lib/redpacketd"
grep -q '"compat_mode": false' "$config" || fail "the packaged config allows compat logins"
chmod 644 "$config"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[[ $exec_start == "/usr/bin/redpacketd --config /etc/redpacketd/redpacketd.json \$REDPACKETD_OPTS" ]] ||
    fail "ExecStart changed ('$exec_start'): update this check"
# The unit's user: as root, an unprivileged one owning what systemd (StateDirectory) and the
# postinst would give the package's system user; otherwise the user running the tests.
state="$root/var/lib/redpacketd"
mkdir -p "$state"
chmod 700 "$state"
run_as=""
if [[ $(id -u) == 0 ]] && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
    chown nobody "$state" "$root/etc/redpacketd/auth-secret" "$root/etc/redpacketd/admin-token"
    run_as="setpriv --reuid=nobody --regid=$(id -g nobody) --clear-groups --"
    echo "the unit's user: nobody (stands in for the package's redpacketd user)"
fi
cat >"$scratch/execstart" <<EOF
#!/bin/sh
# The unit's ExecStart rebased into $root: UMask=0077, its user, REDPACKETD_OPTS = "\$@".
umask 077
exec $run_as $root/usr/bin/redpacketd --config $config "\$@"
EOF
chmod 755 "$scratch/execstart"
REDPACKETD_BINARY="$scratch/execstart" \
    REDPACKET_PACKAGE_SECRET_FILE="$root/etc/redpacketd/auth-secret" \
    "$daemon_tests" "[package]" >"$work/package-test.log" 2>&1 ||
    { cat "$work/package-test.log" >&2; fail "the packaged daemon failed its test"; }
grep -q "All tests passed" "$work/package-test.log" ||
    { cat "$work/package-test.log" >&2; fail "the package test did not run"; }
ls "$state/journal"/worker-*/journal-*.log >/dev/null 2>&1 ||
    fail "the packaged daemon wrote no journal under $state/journal"
echo "packaged daemon: claims kept through kill -9, login without a token refused"

# --- 6. purge -------------------------------------------------------------------------------
dpkg_root --purge redpacketd >>"$work/dpkg.log" 2>&1 ||
    { cat "$work/dpkg.log" >&2; fail "dpkg --purge failed"; }
for gone in etc/redpacketd/redpacketd.json etc/redpacketd/auth-secret etc/redpacketd/admin-token \
    var/lib/redpacketd; do
    [[ ! -e "$root/$gone" ]] || fail "/$gone is still there after a purge"
done
echo "check_deb: ok"
