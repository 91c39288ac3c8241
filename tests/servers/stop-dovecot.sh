#!/usr/bin/env bash
# stop-dovecot.sh DIR -- stop the test Dovecot started by start-dovecot.sh DIR.
#
# Why not `doveadm stop`: it signals only the master, which then waits up to
# 10 s for busy sessions. The master leads its own session, so SIGTERM to that
# whole group ends master, services and client sessions at once (~0.1 s).
# Waits until every process of the instance is gone, SIGKILLs stragglers by pid.
# Mail under DIR is left in place.
set -uo pipefail
if [ $# -ne 1 ]; then echo "usage: $0 DIR" >&2; exit 2; fi
dir=$(cd "$1" 2>/dev/null && pwd -P) || exit 0
conf=$dir/dovecot.conf
pidfile=$dir/run/master.pid

alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ -n "$state" ] && [ "$state" != Z ]
}
ours() {  # a live dovecot binary
  case $(readlink "/proc/$1/exe" 2>/dev/null) in
    /usr/sbin/dovecot* | /usr/lib/dovecot/*) alive "$1" ;;
    *) return 1 ;;
  esac
}

master=$(cat "$pidfile" 2>/dev/null || true)
[[ $master =~ ^[0-9]+$ ]] || exit 0
master_ok=0
if ours "$master"; then
  if ! tr '\0' ' ' <"/proc/$master/cmdline" | grep -qF -- "-c $conf "; then
    echo "pid $master is a different dovecot; not touching it" >&2
    exit 1
  fi
  master_ok=1
fi

# Orphans keep the session id even if the master has died.
pids=""
for p in $(ps -e -o pid= -o sid= | awk -v sid="$master" '$2 == sid {print $1}'); do
  ours "$p" && pids="$pids $p"
done
if [ -z "$pids" ]; then rm -f "$pidfile"; exit 0; fi

if [ $master_ok = 1 ]; then
  kill -TERM -- "-$master" 2>/dev/null || kill -TERM "$master" 2>/dev/null
else
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null
fi
left=$pids
for _ in $(seq 100); do
  left=""
  for p in $pids; do alive "$p" && left="$left $p"; done
  [ -z "$left" ] && break
  sleep 0.05
done
for p in $left; do kill -KILL "$p" 2>/dev/null && echo "SIGKILLed dovecot pid $p" >&2; done
rm -f "$pidfile"
exit 0
