#!/bin/bash
# Runs inside the lock_stat VM (../shared/vm/run-in-vm.sh): lockstat-run on a lock-heavy
# workload, then the same interrupted by SIGINT, and by two SIGINTs. Everything it learns goes
# to $OUTDIR for the host-side test to check.
# Then kill -9 of a run: the switch back within a second.
# Then `lockstat serve` of lock_stat: the switch on while it serves, put back by SIGTERM.
# Then two repeat sets of the mkdir storm for `lockstat compare`: 4 workers in one directory,
# and 4 each in its own.
# usage: lock-stat-in-vm.sh LOCKSTAT_BIN_DIR WORKLOAD MKDIR_STORM
set -u
bin=$1 workload=$2 storm=$3
cd "$OUTDIR"
printf 'modules lock_stat stat diskstats\nintervall 0.2\nlock_stat.intervall 0.5\n' > vm.config
"$bin/lockstat" doctor --json --config vm.config > doctor.json
echo "$?" > doctor.status

# Collection off before the run; some activity first, so a clear is visible.
echo 0 > /proc/sys/kernel/lock_stat
echo 1 > /proc/sys/kernel/lock_stat
"$workload" "$SCRATCH" 1 > /dev/null
echo 0 > /proc/sys/kernel/lock_stat
cat /proc/lock_stat > before.txt

"$bin/lockstat-run" --quiet --config vm.config "$OUTDIR/run" "$workload" "$SCRATCH" 4
echo "$?" > run.status
cat /proc/sys/kernel/lock_stat > run.switch

# SIGINT once: forwarded, the run finishes normally and restores the switch.
# Each signal waits for the program to have started (its marker): a slow guest may take seconds.
ready() { for _ in $(seq 3000); do [ -e "$1" ] && return; sleep 0.01; done; }
"$bin/lockstat-run" --quiet --config vm.config "$OUTDIR/int" sh -c "touch $OUTDIR/int.ready; exec sleep 60" &
pid=$!
ready int.ready
kill -INT $pid
wait $pid
echo "$?" > int.status
cat /proc/sys/kernel/lock_stat > int.switch

# SIGINT twice (to a program that ignores the first): lockstat stops at once, and still
# restores the switch.
"$bin/lockstat-run" --quiet --config vm.config "$OUTDIR/int2" bash -c "trap '' INT; touch $OUTDIR/int2.ready; sleep 60" &
pid=$!
ready int2.ready
kill -INT $pid
sleep 1
kill -INT $pid
wait $pid
echo "$?" > int2.status
cat /proc/sys/kernel/lock_stat > int2.switch
pkill -f "sleep 60"

# kill -9 mid-run: the supervisor puts the switch back within a second (polled every 10 ms).
"$bin/lockstat-run" --quiet --config vm.config "$OUTDIR/k9" sh -c "touch $OUTDIR/k9.ready; exec sleep 60" &
pid=$!
ready k9.ready
cat /proc/sys/kernel/lock_stat > k9.switch.during
kill -KILL $pid
killed=$(date +%s%N)
echo "over 1000" > k9.ms
while :; do
    now=$(date +%s%N)
    [ "$(cat /proc/sys/kernel/lock_stat)" = 0 ] && { echo $(( (now - killed) / 1000000 )) > k9.ms; break; }
    [ $(( now - killed )) -ge 1000000000 ] && break
    sleep 0.01
done
cat /proc/sys/kernel/lock_stat > k9.switch
wait $pid 2>/dev/null

ip link set lo up 2>/dev/null || busybox ip link set lo up
"$bin/lockstat" serve --config vm.config --modules lock_stat,stat --listen 127.0.0.1:9464 2> serve.err &
pid=$!
for _ in $(seq 100); do curl -sf -o /dev/null 127.0.0.1:9464/metrics && break; sleep 0.1; done
cat /proc/sys/kernel/lock_stat > serve.switch.during
"$workload" "$SCRATCH" 1 > /dev/null
curl -sf -H 'Accept: application/openmetrics-text; version=1.0.0' 127.0.0.1:9464/metrics > serve.om
kill -TERM $pid
wait $pid
echo "$?" > serve.status
cat /proc/sys/kernel/lock_stat > serve.switch

mkdir -p "$SCRATCH/shared" "$SCRATCH/private"
"$bin/lockstat" run --quiet --config vm.config --repeat 3 "$OUTDIR/shared" "$storm" "$SCRATCH/shared" 1 4
echo "$?" > shared.status
"$bin/lockstat" run --quiet --config vm.config --repeat 3 "$OUTDIR/private" "$storm" "$SCRATCH/private" 1 4 private
echo "$?" > private.status
exit 0
