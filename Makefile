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

PROMPT     := The Eiffel Tower is located in the city of
REPEATED   := The cat sat on the mat. The cat sat on the

gallery: build
	@mkdir -p out/gallery
	$(LOUPE) predict --prompt "$(PROMPT)" --top 3
	$(LOUPE) render logit-lens --prompt "$(PROMPT)" -o out/gallery/logit-lens.png
	$(LOUPE) render logit-lens --prompt "$(PROMPT)" --theme paper --width 6.75in -o out/gallery/logit-lens-paper.pdf
	$(LOUPE) render attention --prompt "$(REPEATED)" --set layer=17 --set head=4 --set annotate=true -o out/gallery/attention-head.png
	$(LOUPE) render attention --prompt "$(REPEATED)" --set mode=grid -o out/gallery/attention-grid.png
	$(LOUPE) render attention --prompt "$(REPEATED)" --set mode=scores --set annotate=true -o out/gallery/attention-scores.svg
	$(LOUPE) render neuron-clusters -o out/gallery/neuron-clusters.png
	$(LOUPE) render text-deep-dream --prompt " The capital of France is the city of" -o out/gallery/text-deep-dream.png
	@echo "figures in $(CURDIR)/out/gallery"

test: setup
	@scripts/setup.sh test
	$(SWIFT) build $(BUILDFLAGS) --build-tests
	$(SWIFT) test $(BUILDFLAGS) --skip-build

bench: build
	$(LOUPE) bench forward --tokens 64 --repeat 9
	$(LOUPE) bench render --repeat 9
	$(LOUPE) bench dream --repeat 9

clean:
	rm -rf .build out
