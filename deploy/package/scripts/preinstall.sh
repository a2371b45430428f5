#!/bin/sh
# elbguard-proxy preinstall (.deb preinst, .rpm %pre). Refuses, before any file is
# unpacked, a machine the package does not support: nothing is half-installed.
#   deb: $1 = install | upgrade <old-version> | abort-upgrade     rpm: $1 = 1 install, 2+ upgrade
set -e
[ "$1" = abort-upgrade ] && exit 0

fail() {
	echo "elbguard-proxy: $*" >&2
	echo "elbguard-proxy: nothing was installed." >&2
	exit 1
}

# The architecture this package was built for (make package fills it in).
want=@GOARCH@
case "$(uname -m)" in
x86_64 | amd64) have=amd64 ;;
aarch64 | arm64) have=arm64 ;;
*) have="$(uname -m)" ;;
esac
[ "$have" = "$want" ] ||
	fail "this package is for $want, this machine is $have (uname -m: $(uname -m)); install the elbguard-proxy package built for $have (make package builds amd64 and arm64)."

[ "$(uname -s)" = Linux ] || fail "Linux only (this is $(uname -s))."

# Distributions the package is built and tested for: systemd-based Debian, Ubuntu,
# Amazon Linux 2/2023, RHEL and its rebuilds, Fedora, SUSE. Elsewhere (Alpine, no
# systemd, ...) the static binary still runs: take it from the tarball-free build
# (make build) or set ELBGUARD_SKIP_DISTRO_CHECK=1 to install the package anyway.
if [ "${ELBGUARD_SKIP_DISTRO_CHECK:-}" != 1 ]; then
	osr="${ELBGUARD_OS_RELEASE:-/etc/os-release}"
	[ -r "$osr" ] || fail "cannot read $osr to check the distribution (set ELBGUARD_SKIP_DISTRO_CHECK=1 to skip the check)."
	# shellcheck disable=SC1090
	ids="$(. "$osr" && echo "${ID:-} ${ID_LIKE:-}")"
	name="$(. "$osr" && echo "${PRETTY_NAME:-${ID:-unknown}}")"
	ok=
	for id in $ids; do
		case "$id" in
		debian | ubuntu | amzn | rhel | centos | fedora | rocky | almalinux | ol | suse | opensuse* | sles) ok=1 ;;
		esac
	done
	[ -n "$ok" ] ||
		fail "unsupported distribution: $name (ID/ID_LIKE: $ids); supported: Debian, Ubuntu, Amazon Linux, RHEL and rebuilds, Fedora, SUSE. Set ELBGUARD_SKIP_DISTRO_CHECK=1 to install anyway."
fi
exit 0
