#!/usr/bin/env bash
# Create a Cloud TPU VM (slice), install biomed_jax on every host, and start training.
#
#   launch/tpu_vm.sh NAME ZONE ACCELERATOR CONFIG WORKDIR [extra main.py flags...]
#   launch/tpu_vm.sh biomed-xl us-east5-a v5p-32 configs/xlarge_instruct.py gs://bucket/runs/xl
#
# WORKDIR should be a gs:// path (Orbax writes checkpoints there from every host). The same
# command runs on all hosts; JAX finds its peers through the TPU metadata.
set -euo pipefail
if [ $# -lt 5 ]; then
  sed -n '2,9p' "$0"; exit 2
fi
NAME=$1; ZONE=$2; ACCELERATOR=$3; CONFIG=$4; WORKDIR=$5; shift 5
VERSION=${TPU_SOFTWARE_VERSION:-v2-alpha-tpuv5}
REPO=$(cd "$(dirname "$0")/.." && pwd)

if ! gcloud compute tpus tpu-vm describe "$NAME" --zone="$ZONE" >/dev/null 2>&1; then
  gcloud compute tpus tpu-vm create "$NAME" --zone="$ZONE" \
    --accelerator-type="$ACCELERATOR" --version="$VERSION"
fi

# Ship this checkout (committed files only) to every host and install it with the TPU extra.
ARCHIVE=$(mktemp --suffix=.tar.gz)
git -C "$REPO" archive --format=tar.gz -o "$ARCHIVE" HEAD
gcloud compute tpus tpu-vm scp "$ARCHIVE" "$NAME":biomed_jax.tar.gz --zone="$ZONE" --worker=all
gcloud compute tpus tpu-vm ssh "$NAME" --zone="$ZONE" --worker=all --command="
  set -e; mkdir -p biomed_jax && tar -xzf biomed_jax.tar.gz -C biomed_jax && cd biomed_jax &&
  python3 -m venv .venv && . .venv/bin/activate && pip install -q -e '.[tpu]'"

# Train in the background on every host; logs go to ~/train.log on each.
gcloud compute tpus tpu-vm ssh "$NAME" --zone="$ZONE" --worker=all --command="
  cd biomed_jax && . .venv/bin/activate &&
  nohup python -m biomed_jax.main --config=$CONFIG --workdir=$WORKDIR --multihost $* \
    > ~/train.log 2>&1 &"
echo "started; follow with: gcloud compute tpus tpu-vm ssh $NAME --zone=$ZONE --worker=0 --command='tail -f ~/train.log'"
