#!/usr/bin/env bash
# The checks and benchmarks that need a GPU, in one run of a few minutes:
#   the CUDA tests, a torchrun (DDP, one GPU) ResNet-110 training run on CIFAR-10 files
#   with AMP and channels-last against one without them, benchmarks 1 to 3 on CUDA,
#   conditional vs masked at the server's batch sizes (the execution policy of
#   trainer/execution.py), and `python -m backend extract` of the training split on the
#   GPU against the CPU.
# Run from the repository root, with a python3 that has PyTorch and the trainer's needs:
#   bash bench/cuda.sh [LOG_DIR]
# Each step's output is also written to LOG_DIR/<step>.log (default cuda-logs).
# The CIFAR-10 files are random images in the real on-disk format (tests/cifar_files.py):
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
step gpu-tests python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py \
    tests/test_execution.py

python3 -c "from tests.cifar_files import write_cifar10; \
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
for batch in 1 16 64 2048; do  # an upload alone, micro-batches, a split
    step "policy-batch-$batch" python3 -m bench.inference --device cuda --batch "$batch"
done
extract=(-m backend extract ddp-amp --split train --runs-dir "$work/runs" --data-dir "$work/data")
step extract-cuda bash -c "time torchrun --standalone --nproc_per_node=1 ${extract[*]} \
    --cache-dir $work/cache-cuda --device cuda"
step extract-cpu bash -c "time python3 ${extract[*]} --cache-dir $work/cache-cpu --device cpu"
rm -rf "$work"
