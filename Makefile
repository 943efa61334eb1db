# Loupe's project commands. `make gallery` and `make test` do all set-up
# themselves: system libraries (apt-get when root, otherwise the command to
# run is printed), the default model (fetched once into the cache), a build.
#
# Both build with the same flags (release, testable) so that switching
# between them never rebuilds: the numeric code is too slow in debug.

SWIFT      ?= swift
BUILDFLAGS := -c release -Xswiftc -enable-testing
LOUPE      := .build/release/loupe

.PHONY: all setup build gallery test bench fuzz fuzz-build clean

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
# float summation order differs, as another machine's would. The second
# pass leaves out only suites that assert nothing a matrix product
# computes: drawing from fixed data, spec reading and layout, the browser
# page, bad inputs and interrupts, and the package `new-view` writes
# (built once, in the first pass). Everything that runs a model runs twice.
SECONDKERNEL := Sandybridge
SECONDSKIP   := NewViewTests|BrowserTests|RobustnessTests|LoupeRenderTests|LoupeCoreTests

test: setup
	@scripts/setup.sh test
	$(SWIFT) build $(BUILDFLAGS) --build-tests
	$(SWIFT) test $(BUILDFLAGS) --skip-build
	OPENBLAS_CORETYPE=$(SECONDKERNEL) LOUPE_KERNEL_PASS=second $(SWIFT) test $(BUILDFLAGS) --skip-build --skip '$(SECONDSKIP)'

# libFuzzer over the readers of untrusted files (Fuzz/README.md): an
# instrumented build of its own in .build-fuzz, then every target for
# FUZZRUNS executions (or FUZZSECONDS seconds each, when set).
FUZZRUNS    ?= 1000000
FUZZSECONDS ?=
FUZZFLAGS   := -c release --build-path .build-fuzz --product loupe-fuzz \
               -Xswiftc -sanitize=fuzzer,address --toolset Fuzz/toolset.json

fuzz-build: setup
	LOUPE_FUZZ=1 $(SWIFT) build $(FUZZFLAGS)

fuzz: fuzz-build
	scripts/fuzz.sh $(if $(FUZZSECONDS),seconds $(FUZZSECONDS),runs $(FUZZRUNS))

bench: build
	$(LOUPE) bench forward --tokens 64 --repeat 9
	$(LOUPE) bench scaling --repeat 3
	$(LOUPE) bench blas --repeat 5
	$(LOUPE) bench render --repeat 9
	$(LOUPE) bench view text-deep-dream --repeat 9

clean:
	rm -rf .build .build-fuzz out
