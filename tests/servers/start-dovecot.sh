#!/usr/bin/env bash
# start-dovecot.sh DIR PORT -- run a throwaway Dovecot 2.3 IMAP server for tests.
#
# Why a private instance: tests need real IMAP semantics (IDLE, MOVE, UIDPLUS,
# UIDVALIDITY) without touching the system service. Config, users, sockets,
# logs and maildirs all live under DIR; it listens on 127.0.0.1:PORT only,
# plaintext auth allowed. Prints PORT once LOGIN + SELECT INBOX succeed.
# Mail already under DIR/mail survives a restart.
#
# Env: MAILDESK_IMAP_USERS     space-separated logins (default: support@example.test)
#      MAILDESK_IMAP_PASSWORD  password of every user (default: secret)
#      MAILDESK_IMAP_MAILUSER  system user owning the mail when run as root (default: nobody)
#      MAILDESK_IMAP_TIMEOUT   seconds to wait for readiness (default: 10)
set -euo pipefail

if [ $# -ne 2 ]; then echo "usage: $0 DIR PORT" >&2; exit 2; fi
port=$2
users=${MAILDESK_IMAP_USERS:-support@example.test}
password=${MAILDESK_IMAP_PASSWORD:-secret}
wait_s=${MAILDESK_IMAP_TIMEOUT:-10}
[[ $port =~ ^[0-9]+$ ]] || { echo "PORT must be a number: $port" >&2; exit 2; }
command -v dovecot >/dev/null || { echo "dovecot not installed (apt-get install dovecot-imapd)" >&2; exit 1; }

mkdir -p "$1"
dir=$(cd "$1" && pwd -P)
conf=$dir/dovecot.conf
run=$dir/run
tag=maildesk-test-$port
# Unix socket paths are limited to 108 bytes and Dovecot appends names to base_dir.
if [ ${#run} -gt 70 ]; then echo "DIR path too long for unix sockets: $dir" >&2; exit 1; fi

master_alive() {
  local pid state
  pid=$(cat "$run/master.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-c $conf "
}
if master_alive; then echo "already running for $dir; stop it first" >&2; exit 1; fi

extra=""
if [ "$(id -u)" = 0 ]; then
  # Dovecot will not touch mail as root: a plain system user owns it, and that
  # user (and the dovecot auth user) must be able to traverse DIR and its parents.
  owner=${MAILDESK_IMAP_MAILUSER:-nobody}
  uid=$(id -u "$owner"); gid=$(id -g "$owner")
else
  # Unprivileged run: every Dovecot process is the calling user, no chroot.
  uid=$(id -u); gid=$(id -g)
  extra="default_internal_user = $(id -un)
default_internal_group = $(id -gn)
default_login_user = $(id -un)
service anvil {
  chroot =
}
service imap-login {
  chroot =
}"
fi

rm -rf "$run"
mkdir -p "$run" "$dir/state" "$dir/log" "$dir/mail"
chmod 0755 "$dir"
if [ "$(id -u)" = 0 ]; then
  chown "$uid:$gid" "$dir/mail"
  if ! setpriv --reuid="$uid" --regid="$gid" --clear-groups test -w "$dir/mail" ||
     ! setpriv --reuid=dovecot --regid=dovecot --clear-groups test -x "$dir"; then
    echo "uid $uid or user dovecot cannot reach $dir: is every parent directory o+x?" >&2
    exit 1
  fi
fi

# passwd-file lines: login:{PLAIN}password:uid:gid::home::
: >"$dir/users"
for u in $users; do
  echo "$u:{PLAIN}$password:$uid:$gid::$dir/mail/${u#*@}/${u%@*}::" >>"$dir/users"
done
chmod 0644 "$dir/users"
first_user=${users%% *}

cat >"$conf" <<CONF
# Written by tests/servers/start-dovecot.sh: a private test instance.
instance_name = $tag
base_dir = $run
state_dir = $dir/state
log_path = $dir/log/dovecot.log
protocols = imap
listen = 127.0.0.1
login_greeting = $tag ready.
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:~/Maildir
mail_fsync = never
mailbox_idle_check_interval = 1 secs
$extra
protocol imap {
  mail_max_userip_connections = 1000
}
namespace inbox {
  inbox = yes
  separator = /
}
# A no-op first passdb marks every reply "nodelay": failed logins answer at once.
passdb {
  driver = static
  args = noauthenticate nodelay=yes
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $dir/users
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
CONF

# The master daemonises but keeps stderr open: never hand it a pipe someone waits on.
if ! dovecot -c "$conf" </dev/null >/dev/null 2>"$dir/log/start.err"; then
  cat "$dir/log/start.err" >&2
  tail -n 5 "$dir/log/dovecot.log" >&2 2>/dev/null || true
  exit 1
fi

ready() {  # our greeting, then LOGIN and SELECT INBOX answer OK
  local line ok=1
  { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
  if read -r -t 2 line <&3 && [[ $line == *"$tag ready."* ]]; then
    printf 'a LOGIN "%s" "%s"\r\nb SELECT INBOX\r\nc LOGOUT\r\n' "$first_user" "$password" >&3
    while read -r -t 2 line <&3; do
      case $line in
        "b OK"*) ok=0 ;;
        [abc]" NO"* | [abc]" BAD"* | "c OK"*) break ;;
      esac
    done
  fi
  exec 3<&-
  return $ok
}
deadline=$((SECONDS + wait_s))
until ready; do
  if [ $SECONDS -ge $deadline ] || { [ -f "$run/master.pid" ] && ! master_alive; }; then
    echo "dovecot did not become ready; last log lines:" >&2
    tail -n 20 "$dir/log/dovecot.log" >&2 2>/dev/null || true
    exit 1
  fi
  sleep 0.05
done
echo "$port"
