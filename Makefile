# Loupe's project commands. `make gallery` and `make test` do all set-up
# themselves: system libraries (apt-get when root, otherwise the command to
# run is printed), the default model (fetched once into the cache), a build.
#
# Both build with the same flags (release, testable) so that switching
# between them never rebuilds: the numeric code is too slow in debug.

SWIFT      ?= swift
BUILDFLAGS := -c release -Xswiftc -enable-testing
LOUPE      := .build/release/loupe

.PHONY: all setup build gallery test bench clean

all: gallery

setup:
	@scripts/setup.sh

build: setup
	$(SWIFT) build $(BUILDFLAGS) --product loupe

# The default gallery: every view on six prompts, neuron clusters over the
# topic set, two deep dreams, a dashboard per prompt. Unchanged figures are
# skipped on the next run; FORCE=1 renders everything again.
GALLERY    := Gallery/smollm2.yml
GALLERYOUT := out/gallery

gallery: build
	@$(LOUPE) gallery $(GALLERY) --out $(GALLERYOUT) $(if $(FORCE),--force) > /dev/null
	@echo "gallery: $(CURDIR)/$(GALLERYOUT)/index.html"

# The suite runs twice: with the BLAS kernels Loupe picks for this CPU
# (Haswell or SkylakeX), then with OpenBLAS's Sandybridge kernels, whose
# float summation order differs, as another machine's would.
SECONDKERNEL := Sandybridge

test: setup
	@scripts/setup.sh test
	$(SWIFT) build $(BUILDFLAGS) --build-tests
	$(SWIFT) test $(BUILDFLAGS) --skip-build
	OPENBLAS_CORETYPE=$(SECONDKERNEL) $(SWIFT) test $(BUILDFLAGS) --skip-build

bench: build
	$(LOUPE) bench forward --tokens 64 --repeat 9
	$(LOUPE) bench render --repeat 9
	$(LOUPE) bench dream --repeat 9

clean:
	rm -rf .build out
