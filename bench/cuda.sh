#!/usr/bin/env bash
# The checks and benchmarks that need a GPU, in one run of a few minutes:
#   the CUDA tests, a torchrun (DDP, one GPU) ResNet-110 training run on CIFAR-10 files
#   with AMP and channels-last against one without them, and benchmarks 1 to 3 on CUDA.
# Run from the repository root, with a python3 that has PyTorch and the trainer's needs:
#   bash bench/cuda.sh [LOG_DIR]
# Each step's output is also written to LOG_DIR/<step>.log (default cuda-logs).
# The CIFAR-10 files are random images in the real on-disk format (bench/cifar_files.py):
# the run measures speed and exercises the whole path, not accuracy.
set -u -o pipefail
log_dir=${1:-cuda-logs}
mkdir -p "$log_dir"
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1  # no progress bars in the logs
work=$(mktemp -d)

step() {
    local name=$1
    shift
    echo "=== $name: $*"
    "$@" 2>&1 | tee "$log_dir/$name.log"
    echo "=== $name: exit ${PIPESTATUS[0]}"
}

step environment bash -c 'nvidia-smi -L; python3 -c "import torch, sys; \
print(sys.version.split()[0], torch.__version__, torch.version.cuda, torch.cuda.get_device_name())"'
step gpu-tests python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py

python3 -c "from bench.cifar_files import write_cifar10; \
write_cifar10('$work/data', per_batch=2000, test_size=2000)"
train=(--config recipes/cifar10_resnet110.yaml --data-dir "$work/data" --epochs 2 --workers 8)
step train-ddp-amp torchrun --standalone --nproc_per_node=1 -m trainer train "${train[@]}" \
    --device cuda --amp --channels-last --out "$work/runs/ddp-amp"
step train-fp32 python3 -m trainer train "${train[@]}" \
    --device cuda --no-amp --no-channels-last --out "$work/runs/fp32"
step eval python3 -m trainer eval --checkpoint "$work/runs/ddp-amp/checkpoint.pt" --device cuda

step inference-fp32 python3 -m bench.inference --device cuda
step inference-amp python3 -m bench.inference --device cuda --amp --channels-last
step train-step-fp32 python3 -m bench.train_step --device cuda
step train-step-amp python3 -m bench.train_step --device cuda --amp --channels-last
step regularizer python3 -m bench.regularizer --device cuda --repeats 3
rm -rf "$work"
