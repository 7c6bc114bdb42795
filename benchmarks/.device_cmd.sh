set -e
nproc; python3 --version
bash benchmarks/cuda_check.sh 2>&1 | tail -20
python3 benchmarks/env_workers.py --seconds 3 --trials 7 --out $OUT/env_workers.md 2>&1 | tail -25
