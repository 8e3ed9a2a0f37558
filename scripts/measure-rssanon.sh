#!/bin/bash
# measure.sh LIMIT_BYTES OUT_JSON -- command...: runs the command in a fresh cgroup v1 memory
# child with that limit, samples RssAnon of the process every 0.2 s, prints the peak.
limit=$1; out=$2; shift 2
parent=/sys/fs/cgroup/memory$(awk -F: '$2=="memory"{print $3}' /proc/self/cgroup)
cg=$parent/dmlstream-$$
mkdir "$cg" && echo "$limit" > "$cg/memory.limit_in_bytes"
( echo $BASHPID > "$cg/cgroup.procs"; exec "$@" > "$out" ) &
pid=$!
peak=0
while kill -0 $pid 2>/dev/null; do
  a=$(awk '/RssAnon/{print $2}' /proc/$pid/status 2>/dev/null); [ -n "$a" ] && [ "$a" -gt "$peak" ] && peak=$a
  sleep 0.2
done
wait $pid; rc=$?
echo "exit $rc; peak RssAnon ${peak} kB; cgroup limit $(cat $cg/memory.limit_in_bytes) bytes; cgroup max usage $(cat $cg/memory.max_usage_in_bytes) bytes; failcnt $(cat $cg/memory.failcnt); oom_kill $(awk '/oom_kill /{print $2}' $cg/memory.oom_control)"
rmdir "$cg"
