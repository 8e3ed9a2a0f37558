#!/bin/bash
# Submits a sharded dmleval evaluation: an array of N shards, then the merge, which runs only
# if every shard succeeded (afterok).
#
#   scripts/slurm/submit.sh N PARTS_DIR EMBEDDINGS LABELS [dmleval flags...] [-- merge flags...]
#
# e.g. scripts/slurm/submit.sh 8 /shared/parts emb.npy labels.txt --recall 1,10 --map-r -- --store /shared/runs.sqlite --name cub
#
# Prints the merge job's id on stdout (the array job's on stderr). Extra sbatch options go in
# $SBATCH_SHARD_OPTIONS and $SBATCH_MERGE_OPTIONS (e.g. "--cpus-per-task=8 --partition=cpu").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 3 ] || ! [[ $1 =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 N PARTS_DIR EMBEDDINGS [LABELS] [dmleval flags...] [-- merge flags...]" >&2
    exit 64
fi
n=$1
parts=$2
shift 2
shard_args=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do shard_args+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
merge_args=("$@")
mkdir -p "$parts"
parts=$(cd "$parts" && pwd)
# A folder holds one sharded run: parts left by an earlier run would be refused by the merge.
if compgen -G "$parts/part-*-of-*" >/dev/null; then
    echo "error: $parts: expected an empty folder for the parts, found parts of an earlier run; remove them or choose another folder" >&2
    exit 2
fi
# shellcheck disable=SC2086
array=$(sbatch --parsable ${SBATCH_SHARD_OPTIONS:-} --array="0-$((n - 1))" "$here/evaluate.sbatch" "$parts" "${shard_args[@]}")
array=${array%%;*}
echo "array job $array: $n shards writing to $parts" >&2
# shellcheck disable=SC2086
merge=$(sbatch --parsable ${SBATCH_MERGE_OPTIONS:-} --dependency="afterok:$array" --kill-on-invalid-dep=yes \
    "$here/merge.sbatch" "$parts" "${merge_args[@]}")
merge=${merge%%;*}
echo "merge job $merge (after every task of $array succeeds)" >&2
echo "$merge"
