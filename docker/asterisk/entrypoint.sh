#!/bin/bash
# Starts Asterisk in its container. Before exec'ing Asterisk (in the foreground, so it gets
# SIGTERM itself) it rebuilds /etc/asterisk from the pristine dialplans/ copy in the image and
# applies what only the deployment knows:
#
#   CALLCENTRE_AMI_SECRET_FILE  file holding the secret of the AMI user "callcentre" (a compose
#   CALLCENTRE_AMI_SECRET       secret), or the secret itself. Written to
#                               callcentre-ami-secret.conf, which dialplans/manager.conf
#                               #includes. Required: without it callcentre could never log in.
#   ASTERISK_AMI_PERMIT         who may log in to the AMI besides loopback: "attached" (the
#                               networks this container is attached to: the compose network),
#                               or CIDRs separated by spaces or commas. Set, the AMI listens on
#                               all of the container's addresses; unset, on loopback only, as
#                               dialplans/manager.conf ships. Never publish port 5038.
#   ASTERISK_RTP_PORTS          START-END of the RTP range (rtp.conf); it must be the range the
#                               container publishes (compose.yml), so phones' audio gets in.
#   ASTERISK_SIP_BIND           address:port the PJSIP UDP/TCP transports bind to instead of
#                               dialplans/pjsip.conf's loopback example (compose: 0.0.0.0:5060).
#   ASTERISK_EXTERNAL_ADDRESS   the address phones reach the host at; Asterisk puts it in SIP
#                               and SDP instead of the container's own (NAT), on every PJSIP
#                               transport in pjsip.conf.
#
# The site's own settings (phones, trunk, queue members, passwords: what dialplans/ leaves as
# examples) come from /etc/asterisk-site/NAME.conf, mounted by the deployer (docker/site/):
# each is copied into /etc/asterisk/site/, readable by Asterisk only, and #included at the end
# of /etc/asterisk/NAME.conf, so "[section](+)" there adds to or overrides dialplans/.
#
# Any arguments are passed to asterisk (default: -f -n -v: foreground, no colours, the call
# flow at verbose level 3 and up in the container log; "-f -n" logs notices and errors only).
set -euo pipefail

pristine=/usr/share/callcentre/asterisk
conf=/etc/asterisk
site_in=/etc/asterisk-site

log() { echo "asterisk-entrypoint: $*" >&2; }
die() { log "$*"; exit 64; }

# /etc/asterisk as the image has it, so that a restart does not apply the changes twice and a
# site file that was removed leaves no #include behind.
reset_config() {
  find "$conf" -maxdepth 1 -type f -name '*.conf' -delete
  rm -rf "$conf/site"
  cp "$pristine"/*.conf "$conf/"
}

write_ami_secret() {
  local secret="${CALLCENTRE_AMI_SECRET:-}"
  if [ -n "${CALLCENTRE_AMI_SECRET_FILE:-}" ]; then
    [ -r "$CALLCENTRE_AMI_SECRET_FILE" ] || die "cannot read CALLCENTRE_AMI_SECRET_FILE=$CALLCENTRE_AMI_SECRET_FILE"
    secret=$(cat "$CALLCENTRE_AMI_SECRET_FILE")
  fi
  [ -n "$secret" ] || die "no AMI secret: set CALLCENTRE_AMI_SECRET_FILE or CALLCENTRE_AMI_SECRET"
  # ';' starts a comment in Asterisk's config files, and a line ends the value.
  case "$secret" in
    *[\;[:space:][:cntrl:]]*) die "the AMI secret must not contain ';', spaces or control characters (try: openssl rand -hex 24)" ;;
  esac
  umask 027
  printf 'secret = %s\n' "$secret" >"$conf/callcentre-ami-secret.conf"
  chown root:asterisk "$conf/callcentre-ami-secret.conf"
  umask 022
}

# The IPv4 networks this container is attached to, as address/netmask, from the kernel's
# routing table (no iproute2 in the image): the on-link routes, those with gateway 0.0.0.0.
attached_networks() {
  local iface dest gw _flags _refcnt _use _metric mask _rest
  while read -r iface dest gw _flags _refcnt _use _metric mask _rest; do
    [ "$iface" != Iface ] && [ "$gw" = 00000000 ] && [ "$dest" != 00000000 ] || continue
    echo "$(hex_ip "$dest")/$(hex_ip "$mask")"
  done </proc/net/route
}

# /proc/net/route prints addresses as little-endian hex: 0100590A is 10.89.0.1.
hex_ip() {
  local h="$1"
  echo "$((16#${h:6:2})).$((16#${h:4:2})).$((16#${h:2:2})).$((16#${h:0:2}))"
}

open_ami() {
  local permit="${ASTERISK_AMI_PERMIT:-}" nets net
  [ -n "$permit" ] || return 0
  if [ "$permit" = attached ]; then nets=$(attached_networks); else nets=${permit//,/ }; fi
  [ -n "$nets" ] || die "ASTERISK_AMI_PERMIT=$permit: no network found"
  # "(+)" appends to a section dialplans/manager.conf already has: a later bindaddr replaces the
  # loopback one, and a later permit is checked after its "deny 0.0.0.0/0" (last match wins).
  {
    printf '\n; added by asterisk-entrypoint (ASTERISK_AMI_PERMIT=%s)\n' "$permit"
    printf '[general](+)\nbindaddr = 0.0.0.0\n\n[callcentre](+)\n'
    for net in $nets; do printf 'permit = %s\n' "$net"; done
  } >>"$conf/manager.conf"
  log "AMI open to ${nets//$'\n'/ }"
}

set_rtp_ports() {
  local range="${ASTERISK_RTP_PORTS:-}"
  [ -n "$range" ] || return 0
  [[ "$range" =~ ^([0-9]+)-([0-9]+)$ ]] || die "ASTERISK_RTP_PORTS=$range: expected START-END"
  sed -i -E "s/^rtpstart[[:space:]]*=.*/rtpstart = ${BASH_REMATCH[1]}/; s/^rtpend[[:space:]]*=.*/rtpend = ${BASH_REMATCH[2]}/" \
    "$conf/rtp.conf"
}

# PJSIP transports (not templates) of a protocol (udp, tcp, tls, ...; "" for all); a transport
# that names no protocol is udp.
transports() {
  local want="$1"
  awk -v want="$want" '
    function flush() { if (name != "" && !tmpl && type == "transport" && (want == "" || proto == want)) print name }
    /^[[:space:]]*\[/ { flush(); tmpl = ($0 ~ /\(!/); name = $0; sub(/^[[:space:]]*\[/, "", name)
                          sub(/\].*/, "", name); type = ""; proto = "udp"; next }
    /^[[:space:]]*type[[:space:]]*=/ { type = $0; sub(/^[^=]*=[[:space:]]*/, "", type); sub(/[[:space:]]*(;.*)?$/, "", type) }
    /^[[:space:]]*protocol[[:space:]]*=/ { proto = $0; sub(/^[^=]*=[[:space:]]*/, "", proto); sub(/[[:space:]]*(;.*)?$/, "", proto) }
    END { flush() }' "$conf/pjsip.conf"
}

set_sip_bind() {
  local bind="${ASTERISK_SIP_BIND:-}" t
  [ -n "$bind" ] || return 0
  for t in $(transports udp) $(transports tcp); do
    printf '\n; added by asterisk-entrypoint (ASTERISK_SIP_BIND)\n[%s](+)\nbind = %s\n' "$t" "$bind"
    log "PJSIP transport $t binds $bind"
  done >>"$conf/pjsip.conf"
}

set_external_address() {
  local address="${ASTERISK_EXTERNAL_ADDRESS:-}" transports t nets net
  [ -n "$address" ] || return 0
  [ -f "$conf/pjsip.conf" ] || die "ASTERISK_EXTERNAL_ADDRESS set but there is no pjsip.conf"
  transports=$(transports "")
  [ -n "$transports" ] || die "ASTERISK_EXTERNAL_ADDRESS set but pjsip.conf has no transport"
  nets=$(attached_networks)
  for t in $transports; do
    printf '\n; added by asterisk-entrypoint (ASTERISK_EXTERNAL_ADDRESS)\n[%s](+)\n' "$t"
    printf 'external_media_address = %s\nexternal_signaling_address = %s\n' "$address" "$address"
    for net in $nets; do printf 'local_net = %s\n' "$net"; done
  done >>"$conf/pjsip.conf"
  log "PJSIP transports $transports advertise $address"
}

# Last, so that the site has the final word.
include_site() {
  local f name
  [ -d "$site_in" ] || return 0
  install -d -o root -g asterisk -m 0750 "$conf/site"
  for f in "$site_in"/*.conf; do
    [ -f "$f" ] || continue
    name=$(basename "$f")
    install -o root -g asterisk -m 0640 "$f" "$conf/site/$name"
    printf '\n; the site'"'"'s own settings (%s/%s)\n#include "site/%s"\n' "$site_in" "$name" "$name" \
      >>"$conf/$name"
    log "site settings $name included"
  done
}

reset_config
write_ami_secret
open_ami
set_rtp_ports
set_sip_bind
set_external_address
include_site

# callcentre reads queue_log (its ledger) through the shared log volume, read-only and as
# another user: the directory and the file must be readable by others.
install -d -o asterisk -g asterisk /var/log/asterisk
[ -e /var/log/asterisk/queue_log ] \
  || install -m 0644 -o asterisk -g asterisk /dev/null /var/log/asterisk/queue_log
chmod o+rx /var/log/asterisk
chmod o+r /var/log/asterisk/queue_log

[ $# -gt 0 ] || set -- -f -n -v
exec /usr/sbin/asterisk "$@"
