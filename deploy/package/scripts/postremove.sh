#!/bin/sh
# elbguard-proxy postremove (.deb postrm, .rpm %postun). Reloads systemd after the units
# are gone; a purge also removes the logs (dpkg removes /etc/elbguard/proxy.yaml itself).
#   deb: $1 = remove | purge | upgrade | ...    rpm: $1 = 0 remove, 1 upgrade
set -e
case "$1" in
remove | purge | 0)
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload || true
	fi
	;;
esac
if [ "$1" = purge ]; then
	rm -rf /var/log/elbguard /var/log/private/elbguard
	rmdir /etc/elbguard 2>/dev/null || true
fi
exit 0
