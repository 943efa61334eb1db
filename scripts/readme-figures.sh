#!/bin/sh
# Draws the README's figures into docs/images with Loupe's own commands, so
# that they can be made again after a change. The neuron clusters and the
# dreams are copied from the default gallery: run `make gallery` first.
set -eu
cd "$(dirname "$0")/.."
loupe=.build/release/loupe
images=docs/images
gallery=out/gallery
[ -x "$loupe" ] || { echo "readme-figures: build first (make build)" >&2; exit 1; }
[ -f "$gallery/index.html" ] || { echo "readme-figures: render the default gallery first (make gallery)" >&2; exit 1; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# render NAME.EXT VIEW ARGS…: one figure, without the data beside it.
render() {
    name=$1; shift
    "$loupe" render "$@" -o "$scratch/$name" > /dev/null
    cp "$scratch/$name" "$images/$name"
}
eiffel="The Eiffel Tower is located in the city of"
cat="The cat sat on the mat. The cat sat on the"

render logit-lens.png logit-lens --prompt "$eiffel" --dpi 110
render logit-lens-paper.pdf logit-lens --prompt "$eiffel" --theme paper --width 3.25in
render logit-lens-trajectory.png logit-lens --prompt "$eiffel" --theme paper --width 3.25in --dpi 200 \
    --set mode=trajectory --set metric=target-rank --set target=" Paris" --set positions=-1,-3,5
render attention-head.png attention --prompt "$cat" --set layer=17 --set head=4 --dpi 110
render attention-norm.png attention --prompt "$cat" --set layer=17 --set head=4 --set weight=norm --dpi 110
render attention-scores.png attention --prompt "$cat" --set mode=scores --dpi 110
render attention-grid.png attention --prompt "$cat" --set mode=grid --theme paper --width 6.75in --height 8in --dpi 110
render logit-attribution.png logit-attribution --prompt "When Mary and John went to the store, John gave a drink to" \
    --set target=" Mary" --set counterfactual=" John" --dpi 110
render value-vectors.png value-vectors --prompt "$eiffel" --set layer=22 --dpi 110
render top-activations.png top-activations --set layer=15 --set neuron=100 --set k=6 --dpi 110
render activation-patching.png activation-patching --prompt "When Mary and John went to the store, John gave a drink to" --dpi 110

"$loupe" dashboard Gallery/dashboards/eiffel.yml -o "$scratch/eiffel-dashboard.pdf" --latex > /dev/null
"$loupe" dashboard Gallery/dashboards/eiffel.yml -o "$scratch/eiffel-dashboard.png" --dpi 150 > /dev/null
cp "$scratch/eiffel-dashboard.pdf" "$scratch/eiffel-dashboard.tex" "$scratch/eiffel-dashboard.png" "$images/"

cp "$gallery/clusters/all.png" "$images/neuron-clusters.png"
cp "$gallery/dream-s1/story.png" "$images/text-deep-dream.png"
cp "$gallery/dream-s1-fluent/story.png" "$images/text-deep-dream-fluent.png"

# The gallery's page as a browser shows it.
for browser in chromium chromium-browser google-chrome; do
    if command -v "$browser" > /dev/null; then
        "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,1500 \
            --virtual-time-budget=10000 --screenshot="$images/gallery-index.png" "file://$PWD/$gallery/index.html" 2> /dev/null
        break
    fi
done
echo "readme-figures: wrote $images"
