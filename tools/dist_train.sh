#!/usr/bin/env bash
# Distributed training on one machine: tools/dist_train.sh CONFIG NPROC [train.py options]
#
# Runs `$PYTHON -m torch.distributed.run --nproc_per_node=NPROC tools/train.py CONFIG
# --launcher pytorch [options]`. Environment:
#   PYTHON       interpreter to use (default: python); the workers run under the same one
#   PORT         rendezvous port (default: $MASTER_PORT, else a free port picked at random)
#   MASTER_ADDR  rendezvous address (default: 127.0.0.1)
#   NNODES, NODE_RANK  for several machines (default: 1 and 0)
# On CPU (no CUDA), mmkd's runner uses the gloo backend and wraps the model with
# device_ids=None; torchrun sets OMP_NUM_THREADS=1 per worker unless it is already set.
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "usage: $0 CONFIG NPROC [train.py options, e.g. --work-dir DIR --resume]" >&2
    exit 2
fi

CONFIG=$1
NPROC=$2
shift 2

PYTHON=${PYTHON:-python}
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
if [ -z "${PORT:-}" ]; then
    if [ -n "${MASTER_PORT:-}" ]; then
        PORT=$MASTER_PORT
    else
        PORT=$("$PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()')
    fi
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --master_port="$PORT" \
    --nproc_per_node="$NPROC" \
    "$ROOT/tools/train.py" \
    "$CONFIG" \
    --launcher pytorch \
    "$@"
