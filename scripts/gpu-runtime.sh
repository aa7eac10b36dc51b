# Sourced by scripts/gpu-check.sh and scripts/gpu-train.sh on the GPU machine (no Rust there;
# PyTorch with CUDA): `cuda_runtime XZ BIN` unpacks the xz-compressed CUDA binary XZ to BIN
# (unless BIN is already there) and points LD_LIBRARY_PATH at CUDA 13's runtime libraries in
# PyTorch's wheels (site-packages/nvidia/*/lib; libcuda.so.1 is the driver's).
cuda_runtime() {
  local xz="$1" bin="$2" libs
  [ -x "$bin" ] || {
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
      "$xz" "$bin" && chmod +x "$bin"
  }
  libs=$(python3 - <<'PY'
import glob, os, site
dirs = set()
for root in site.getsitepackages() + [site.getusersitepackages()]:
    for lib in glob.glob(os.path.join(root, "nvidia", "**", "lib*.so*"), recursive=True):
        dirs.add(os.path.dirname(lib))
print(":".join(sorted(dirs)))
PY
)
  export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}
