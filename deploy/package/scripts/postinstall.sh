#!/bin/sh
# elbguard-proxy postinstall (.deb postinst, .rpm %post).
#   deb: $1 = configure <old-version, empty on first install>    rpm: $1 = 1 install, 2+ upgrade
# First install: enable and start the socket and the service. Upgrade: check the
# config with the new binary, then `systemctl reload`: the running process hands its
# sockets to the new version and drains (nothing refused, WebSockets closed with 1001
# after shutdown_timeout). Without systemd as PID 1 (containers, image builds) it only
# says so.
set -e
case "$1" in
configure) [ -n "$2" ] && mode=upgrade || mode=install ;;
1) mode=install ;;
[0-9]*) mode=upgrade ;;
*) exit 0 ;;
esac

bin=/usr/bin/elbguard-proxy
conf=/etc/elbguard/proxy.yaml

if [ ! -d /run/systemd/system ]; then
	echo "elbguard-proxy: systemd is not running (no /run/systemd/system): the service was not enabled or started."
	echo "elbguard-proxy: on a systemd machine: systemctl enable --now elbguard-proxy.socket elbguard-proxy.service"
	exit 0
fi

systemctl daemon-reload || true
if [ "$mode" = install ]; then
	systemctl enable elbguard-proxy.socket elbguard-proxy.service || true
	if ! "$bin" check --config "$conf"; then
		echo "elbguard-proxy: $conf is invalid (above); fix it, then: systemctl start elbguard-proxy" >&2
		exit 0
	fi
	systemctl start elbguard-proxy.socket elbguard-proxy.service ||
		echo "elbguard-proxy: did not start (systemctl status elbguard-proxy); the package is installed." >&2
	exit 0
fi

# Upgrade: a broken config never replaces a working process.
if systemctl is-active --quiet elbguard-proxy.service; then
	if "$bin" check --config "$conf"; then
		systemctl reload elbguard-proxy.service ||
			echo "elbguard-proxy: the hand-over to the new version failed (journalctl -u elbguard-proxy); the old version keeps serving." >&2
	else
		echo "elbguard-proxy: $conf does not pass the new version's check (above): the running old version keeps serving; fix the config, then: systemctl reload elbguard-proxy" >&2
	fi
fi
exit 0
