#!/bin/sh
# elbguard-proxy install step of the ProxyFleet SSM Command document (infra/proxyfleet.go
# embeds this file). Run by SSM Agent as root on each targeted instance:
#
#   1. pick the package: .deb (dpkg) or .rpm (rpm), amd64 or arm64 (uname -m), and download
#      it from the construct's S3 assets;
#   2. install it unless that version is installed already (State Manager re-applies the
#      association; a same-version re-run must not hand over and close WebSockets);
#      an upgrade's postinstall checks the config and hands over: nothing is refused;
#   3. when ELBGUARD_CONFIG_PARAMETER names an SSM parameter, write its value as
#      /etc/elbguard/proxy.yaml, after `elbguard-proxy check` passed on it (a broken config
#      never replaces a working one), and reload;
#   4. wait for the health endpoint to answer 200;
#   5. only then tag the instance elbguard:proxy-ready=PORTS (the config's listeners that read
#      the header, elbguard-proxy check --print-ready-ports), the readiness signal the
#      enforcer gates on (the instance role may tag only its own instance).
#
# Inputs (environment, set by the document):
#   ELBGUARD_PKG_DEB_AMD64 ELBGUARD_PKG_DEB_ARM64 ELBGUARD_PKG_RPM_AMD64 ELBGUARD_PKG_RPM_ARM64
#                                s3:// URIs of the four packages
#   ELBGUARD_CONFIG_PARAMETER    SSM parameter holding proxy.yaml (empty: keep the config)
#   ELBGUARD_HEALTH_URL          default http://127.0.0.1:9901/healthz (the admin listener)
#   ELBGUARD_HEALTH_TIMEOUT      seconds, default 60
#   ELBGUARD_READY_TAG           default elbguard:proxy-ready
#   AWS_SSM_INSTANCE_ID AWS_SSM_REGION_NAME  set by SSM Agent (else read from IMDSv2)
# Needs: sh, curl, the AWS CLI (aws), dpkg or rpm. Exit status 0 only when tagged.
set -eu

say() { echo "elbguard-proxy install: $*"; }
fail() {
	echo "elbguard-proxy install: FAILED: $*" >&2
	exit 1
}

conf=/etc/elbguard/proxy.yaml
bin=/usr/bin/elbguard-proxy
health="${ELBGUARD_HEALTH_URL:-http://127.0.0.1:9901/healthz}"
tag="${ELBGUARD_READY_TAG:-elbguard:proxy-ready}"

command -v curl >/dev/null 2>&1 || fail "curl is not installed"
command -v aws >/dev/null 2>&1 || fail "the AWS CLI (aws) is not installed: it tags the instance and reads the config parameter"

case "$(uname -m)" in
x86_64 | amd64) arch=AMD64 ;;
aarch64 | arm64) arch=ARM64 ;;
*) fail "unsupported architecture $(uname -m): packages exist for x86_64 and aarch64" ;;
esac
if command -v dpkg >/dev/null 2>&1 && [ -d /var/lib/dpkg ]; then
	format=DEB
elif command -v rpm >/dev/null 2>&1; then
	format=RPM
else
	fail "neither dpkg nor rpm found: unsupported distribution"
fi
eval "uri=\${ELBGUARD_PKG_${format}_${arch}:-}"
[ -n "$uri" ] || fail "no ${format} package for ${arch} in the document"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
name="${uri##*/}"
pkg="$work/$name"
aws s3 cp --only-show-errors "$uri" "$pkg" || fail "download $uri"

# 2. Install or upgrade, unless this version is there already.
if [ "$format" = DEB ]; then
	want="$(dpkg-deb -f "$pkg" Version)"
	have="$(dpkg-query -W -f='${Status} ${Version}' elbguard-proxy 2>/dev/null | sed -n 's/^install ok installed //p')" || true
	if [ "$want" = "$have" ]; then
		say "elbguard-proxy $have already installed"
	else
		say "installing $name (${have:-not installed} -> $want)"
		# --force-confold: keep an edited /etc/elbguard/proxy.yaml without asking.
		DEBIAN_FRONTEND=noninteractive dpkg -i --force-confold "$pkg" || fail "dpkg -i $name"
	fi
else
	want="$(rpm -qp --qf '%{VERSION}-%{RELEASE}' "$pkg")"
	have="$(rpm -q --qf '%{VERSION}-%{RELEASE}' elbguard-proxy 2>/dev/null)" || have=
	if [ "$want" = "$have" ]; then
		say "elbguard-proxy $have already installed"
	else
		say "installing $name (${have:-not installed} -> $want)"
		# --oldpackage: publishing an older package rolls the fleet back.
		rpm -U --replacepkgs --oldpackage "$pkg" || fail "rpm -U $name"
	fi
fi

systemd=
[ -d /run/systemd/system ] && systemd=1

# 3. The config from the SSM parameter, checked before it replaces anything.
if [ -n "${ELBGUARD_CONFIG_PARAMETER:-}" ]; then
	new="$work/proxy.yaml"
	aws ssm get-parameter --name "$ELBGUARD_CONFIG_PARAMETER" --with-decryption \
		--query Parameter.Value --output text >"$new" || fail "read SSM parameter $ELBGUARD_CONFIG_PARAMETER"
	"$bin" check --config "$new" || fail "the config in $ELBGUARD_CONFIG_PARAMETER is invalid (above); the running proxy keeps its config"
	if cmp -s "$new" "$conf"; then
		say "config unchanged"
	else
		install -m 0644 "$new" "$conf.new"
		mv -f "$conf.new" "$conf"
		say "config written from $ELBGUARD_CONFIG_PARAMETER"
		if [ -n "$systemd" ]; then
			if systemctl is-active --quiet elbguard-proxy.service; then
				systemctl reload elbguard-proxy.service || fail "systemctl reload elbguard-proxy"
			else
				systemctl restart elbguard-proxy.socket elbguard-proxy.service || fail "systemctl start elbguard-proxy"
			fi
		fi
	fi
fi
if [ -n "$systemd" ] && ! systemctl is-active --quiet elbguard-proxy.service; then
	systemctl enable --now elbguard-proxy.socket elbguard-proxy.service || fail "systemctl enable --now elbguard-proxy"
fi

# 4. Healthy before ready.
tries="${ELBGUARD_HEALTH_TIMEOUT:-60}"
until curl -fsS -o /dev/null --max-time 2 "$health"; do
	tries=$((tries - 1))
	[ "$tries" -gt 0 ] || fail "$health did not answer 200 (journalctl -u elbguard-proxy)"
	sleep 1
done
say "healthy: $health"

# 5. Tag this instance, and only this one.
id="${AWS_SSM_INSTANCE_ID:-}"
region="${AWS_SSM_REGION_NAME:-}"
if [ -z "$id" ] || [ -z "$region" ]; then
	token="$(curl -fsS --max-time 2 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token)" ||
		fail "no instance id: AWS_SSM_INSTANCE_ID unset and IMDSv2 unreachable"
	md() { curl -fsS --max-time 2 -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"; }
	[ -n "$id" ] || id="$(md instance-id)"
	[ -n "$region" ] || region="$(md placement/region)"
fi
# The value is the proxy's own: the instance ports whose listeners read the
# PROXY header ("80,81"), so that the enforcer turns it on for those only.
ready="$("$bin" check --config "$conf" --print-ready-ports 2>/dev/null)" ||
	fail "elbguard-proxy check --print-ready-ports: the config does not check"
aws ec2 create-tags --region "$region" --resources "$id" --tags "Key=$tag,Value=$ready" ||
	fail "tag $id $tag=$ready"
say "tagged $id $tag=$ready"
