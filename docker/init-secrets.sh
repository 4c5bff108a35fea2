#!/bin/sh
# Writes the stack's secrets, once: a random AMI secret shared by Asterisk and callcentre, the
# password of the PostgreSQL role the callcentre replicas sign in as, and Grafana's first admin
# password; and an empty smtp-password for the council to fill in when its
# mail server asks for one (Alertmanager reads it). Existing files are kept. compose.yml mounts them into the
# containers that need them; they are never part of an image. CALLCENTRE_SECRETS moves the folder.
# The folder is private to its owner; the files in it are world-readable because compose mounts
# each file as it is, and callcentre and Grafana read them as their own unprivileged users.
set -eu
dir="${CALLCENTRE_SECRETS:-$(dirname "$0")/secrets}"
umask 077
mkdir -p "$dir"
chmod 0700 "$dir"
for name in ami-secret db-password grafana-admin-password; do
  if [ -s "$dir/$name" ]; then
    echo "kept $dir/$name"
  else
    # hex only: Asterisk's config syntax gives ';' and spaces a meaning
    od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$dir/$name"
    chmod 0644 "$dir/$name"
    echo "wrote $dir/$name"
  fi
done
if [ ! -e "$dir/smtp-password" ]; then
  : >"$dir/smtp-password"
  chmod 0644 "$dir/smtp-password"
  echo "wrote $dir/smtp-password (empty: put the mail server's password in it, if it needs one)"
fi
