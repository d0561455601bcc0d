#!/usr/bin/env bash
# Run HERE (a Debian machine with apt), before a GPU machine is used: downloads the Debian
# -dev packages Strata's build needs and that a GPU machine's image lacks, and unpacks them
# into .deps/ (ignored by git), which the device tool carries (`carry: [".deps"]`).
# scripts/device/check.sh points CMake, pkg-config and the loader at it. Nothing is
# installed: `dpkg -x` only unpacks. Safe to run again (starts from an empty .deps/).
set -euo pipefail
cd "$(dirname "$0")/../.."
PACKAGES=(
  libyaml-cpp-dev libyaml-cpp0.7 libfmt-dev libfmt9 libcli11-dev nlohmann-json3-dev catch2
  libgloo-dev libsentencepiece-dev libsentencepiece0 libmuparser-dev libmuparser2v5
  libsvm-dev libsvm3 liblinear-dev liblinear4 libxgboost-dev libxgboost0 libstb-dev libstb0
  libblas3 zlib1g-dev zlib1g libutf8proc-dev libutf8proc2
)
rm -rf .deps
mkdir -p .deps/debs
(cd .deps/debs && apt-get download "${PACKAGES[@]}" >/dev/null 2>&1) || { echo "deps: apt-get download failed" >&2; exit 1; }
for deb in .deps/debs/*.deb; do dpkg -x "$deb" .deps; done
# The .so links of the -dev packages point at the runtime packages' files, which are here
# too. The BLAS liblinear asks for lives under an alternatives path on Debian: link it.
blas=$(find .deps/usr/lib -name 'libblas.so.3' -path '*blas*' | head -1)
[ -n "$blas" ] && ln -sf "$(realpath --relative-to=.deps/usr/lib/x86_64-linux-gnu "$blas")" \
  .deps/usr/lib/x86_64-linux-gnu/libblas.so.3
# Absolute links (libz.so -> /lib/...) would point at the GPU machine's own files: keep them
# inside .deps.
find .deps -type l -lname '/*' | while read -r link; do
  ln -sf "$(realpath --relative-to="$(dirname "$link")" ".deps$(readlink "$link")")" "$link"
done
rm -rf .deps/debs .deps/usr/share/doc .deps/usr/share/man
find .deps -name "*.a" -delete
find .deps -xtype l -delete  # links to what is not needed (libgloo.so: torch has Gloo)
echo "deps: $(du -sh .deps | cut -f1) in .deps/ ($(ls .deps/usr/lib/x86_64-linux-gnu/*.so* | wc -l) libraries)"
