#!/bin/sh
# elbguard-proxy preremove (.deb prerm, .rpm %preun). On removal, stop and disable the
# service and its sockets; on upgrade, nothing (the new version's postinstall hands over).
#   deb: $1 = remove | upgrade <new-version> | deconfigure | failed-upgrade    rpm: $1 = 0 remove, 1 upgrade
set -e
case "$1" in
remove | deconfigure | 0)
	if [ -d /run/systemd/system ]; then
		systemctl disable --now elbguard-proxy.service elbguard-proxy.socket || true
	fi
	;;
esac
exit 0
