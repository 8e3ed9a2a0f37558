#!/bin/bash
# make slurm-test: a one-node Slurm cluster on this machine, a 4-task array plus the merge on
# the digits fixture, and the merged run checked against an unsharded run (per-query values
# bit for bit). Runs as root (or with sudo) on Debian; installs slurm-wlm and munge when
# missing. Everything (keys, sockets, state, logs) lives in a temporary folder; exactly the
# daemons started here are stopped on exit.
#
#   scripts/slurm/cluster-test.sh [SHARDS]        ($DMLEVAL: the binary, default .build/debug/dmleval)
#
# $SLURM_TEST_DATA="EMBEDDINGS LABELS" evaluates other files than the digits fixture; with
# $SLURM_TEST_BENCH=1 it also runs the unsharded plain search (the same file as --queries:
# no symmetry, as the shards search) and prints the search timings side by side.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
shards=${1:-4}
dmleval=${DMLEVAL:-$repo/.build/debug/dmleval}
dmleval=$(cd "$(dirname "$dmleval")" && pwd)/$(basename "$dmleval")
[ -x "$dmleval" ] || { echo "error: $dmleval: expected a built dmleval, found none; run 'swift build --product dmleval' or set DMLEVAL" >&2; exit 2; }
sudo=""
as_munge=(runuser -u munge --)
if [ "$(id -u)" != 0 ]; then sudo=sudo; as_munge=(sudo -u munge); fi

missing=""
for p in slurm-wlm munge sqlite3; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
    echo "installing Debian packages:$missing"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi

work=$(mktemp -d /tmp/dmleval-slurm.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
    status=$?
    # Stop exactly the daemons started here (by their pid files), then wait for them.
    for pidfile in "$work/slurmd.pid" "$work/slurmctld.pid" "$work/munge/munged.pid"; do
        if [ -s "$pidfile" ]; then $sudo kill "$(cat "$pidfile")" 2>/dev/null || true; fi
    done
    for pidfile in "$work/slurmd.pid" "$work/slurmctld.pid" "$work/munge/munged.pid"; do
        if [ -s "$pidfile" ]; then
            pid=$(cat "$pidfile")
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        fi
    done
    if [ $status -ne 0 ]; then
        echo "slurm-test failed; logs:" >&2
        tail -n 30 "$work"/log/*.log "$work"/jobs/*.out 2>/dev/null >&2 || true
    fi
    $sudo rm -rf "$work"
    exit $status
}
trap cleanup EXIT

# MUNGE: our own key, socket and logs, the daemon run as the munge user.
mkdir -p "$work/munge"
$sudo chown munge:munge "$work/munge"
# Clients (slurmctld, slurmd, sbatch) reach the socket: the folder must be traversable.
$sudo chmod 711 "$work/munge"
"${as_munge[@]}" dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
$sudo chmod 400 "$work/munge/munge.key"
"${as_munge[@]}" /usr/sbin/munged --key-file="$work/munge/munge.key" --socket="$work/munge/munge.socket" \
    --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" --seed-file="$work/munge/munged.seed"

# Slurm: one node, this machine, as slurmd -C sees it; ports picked at random.
mkdir -p "$work/state" "$work/spool" "$work/log" "$work/jobs"
host=$(hostname -s)
node=$(slurmd -C | head -n 1 | sed -e 's/^NodeName=[^ ]* //' -e 's/RealMemory=[0-9]*//')
port=$((20000 + RANDOM % 20000))
cat > "$work/slurm.conf" <<CONF
ClusterName=dmleval-test
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
AuthInfo=socket=$work/munge/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
MinJobAge=600
NodeName=dmleval-node NodeHostname=$host NodeAddr=127.0.0.1 $node State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$work/slurm.conf
$sudo env SLURM_CONF="$SLURM_CONF" /usr/sbin/slurmctld -c
$sudo env SLURM_CONF="$SLURM_CONF" /usr/sbin/slurmd -N dmleval-node
for i in $(seq 120); do
    state=$(sinfo -h -n dmleval-node -o %T 2>/dev/null || true)
    [ "$state" = idle ] && break
    case "$state" in drain*|down*) echo "error: the node is $state: $(sinfo -h -R)" >&2; exit 1 ;; esac
    sleep 0.5
done
[ "$state" = idle ] || { echo "error: the node never became idle (state '$state')" >&2; exit 1; }
echo "one-node cluster up: $(sinfo -h -o '%P %D %c CPUs %T')"

# The sharded run, through the project's own submit script, then the unsharded run.
flags=(--recall 1,4 --map-r --ndcg 2,4,8 --map 10 --map-denominator r)
read -r emb labels <<< "${SLURM_TEST_DATA:-$repo/fixtures/digits.fbin $repo/fixtures/digits-labels.txt}"
emb=$(cd "$(dirname "$emb")" && pwd)/$(basename "$emb")
labels=$(cd "$(dirname "$labels")" && pwd)/$(basename "$labels")
store=$work/runs.sqlite
cd "$work/jobs"
merge=$(DMLEVAL=$dmleval "$repo/scripts/slurm/submit.sh" "$shards" "$work/parts" \
    "$emb" "$labels" "${flags[@]}" -- --store "$store" --name sharded)
for i in $(seq 600); do
    state=$(scontrol show job "$merge" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
    case "$state" in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY) break ;; esac
    sleep 0.5
done
echo "merge job $merge: $state"
[ "$state" = COMPLETED ] || { echo "error: the merge job ended $state" >&2; exit 1; }
cat "$work"/jobs/dmleval-merge-*.out
ls "$work/parts"
"$dmleval" "$emb" "$labels" "${flags[@]}" --store "$store" --name whole > /dev/null

# Per-query values (the stored float64 blobs), means and curves: bit for bit.
values() {
    sqlite3 "$store" "SELECT metric, hex(perQuery), printf('%!.17g', mean) FROM runMetric WHERE runId = $1 ORDER BY position;
                      SELECT k, printf('%!.17g|%!.17g', recall, precision) FROM runCurve WHERE runId = $1 ORDER BY k;"
}
[ "$(sqlite3 "$store" "SELECT value FROM json_each((SELECT parameters FROM run WHERE id = 1)) WHERE json_extract(value, '\$[0]') = 'shards'")" = "[\"shards\",\"$shards\"]" ] \
    || { echo "error: run 1 is not the merged run of $shards shards" >&2; exit 1; }
if [ "$(values 1)" != "$(values 2)" ]; then
    echo "error: the merged run's values differ from the unsharded run's" >&2
    diff <(values 1 | cut -c1-200) <(values 2 | cut -c1-200) >&2 || true
    exit 1
fi
echo "slurm-test: $shards shards merged == unsharded, bit for bit ($(values 1 | wc -l) rows of values compared)"
"$dmleval" runs show 1 --store "$store" | sed -n '1,6p'

if [ "${SLURM_TEST_BENCH:-0}" = 1 ]; then
    "$dmleval" "$emb" "$labels" "${flags[@]}" --queries "$emb" --query-labels "$labels" --store "$store" --name plain > /dev/null
    search() { sqlite3 "$store" "SELECT json_extract(value, '\$[1]') FROM json_each((SELECT timings FROM run WHERE id = $1)) WHERE json_extract(value, '\$[0]') = 'search'"; }
    per_shard=$(for p in "$work"/jobs/dmleval-shard-*.out; do sed -n 's/.*search \([0-9.]*\) s;.*/\1/p' "$p"; done | tr '\n' ' ')
    echo "bench: shards $shards, per-shard search s: $per_shard"
    echo "bench: sum of shard searches $(search 1) s; unsharded symmetric self-retrieval $(search 2) s; unsharded plain (--queries = references) $(search 3) s"
    awk -v a="$(search 1)" -v b="$(search 3)" 'BEGIN { printf "bench: sum of shards / unsharded plain = %.3f\n", a / b }'
fi
