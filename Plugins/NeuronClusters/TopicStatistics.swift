import Foundation
import LoupeCore
import LoupeSupport

/// The statistics behind a topic tag, apart from the model so that they can
/// be tested on planted data.
///
/// The prompts are split, per topic, into a discovery half and a held-out
/// half. Everything that is *chosen* — which neurons to show (by η² of
/// importance by topic), how they cluster, which topic each cluster is a
/// candidate for — is chosen on the discovery half alone. The held-out half
/// then tests each candidate once: its effect size, and a permutation
/// p-value with the topic labels shuffled, corrected (Holm) for the number
/// of clusters tested. Selecting and testing on the same prompts would find
/// "selective" neurons even in noise (the best η² of 1 536 neurons on
/// shuffled labels is far from zero); splitting keeps the p-value honest.
public enum TopicStatistics {
    /// One-way analysis of variance of `values` grouped by `labels`
    /// (0 ..< `groups`): η² = SS_between / SS_total, and
    /// F = (SS_between / (g − 1)) / (SS_within / (n − g)).
    static func anova(_ values: [Double], labels: [Int], groups: Int) -> (eta2: Double, f: Double) {
        let n = Double(values.count)
        guard values.count > groups, groups > 1 else { return (0, 0) }
        let mean = values.reduce(0, +) / n
        var sums = [Double](repeating: 0, count: groups), counts = sums
        for (v, l) in zip(values, labels) { sums[l] += v; counts[l] += 1 }
        var between = 0.0
        for g in 0 ..< groups where counts[g] > 0 {
            let m = sums[g] / counts[g]
            between += counts[g] * (m - mean) * (m - mean)
        }
        let total = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        guard total > 0 else { return (0, 0) }
        let within = max(0, total - between)
        let f = within > 0 ? (between / Double(groups - 1)) / (within / (n - Double(groups))) : .infinity
        return (between / total, f)
    }

    /// Cohen's d of the prompts of `topic` against all the others:
    /// (mean in − mean out) / pooled standard deviation; 0 when either side
    /// is empty or nothing varies.
    static func effect(_ values: [Double], labels: [Int], topic: Int) -> Double {
        var sIn = 0.0, qIn = 0.0, nIn = 0.0, sOut = 0.0, qOut = 0.0, nOut = 0.0
        for (v, l) in zip(values, labels) {
            if l == topic { sIn += v; qIn += v * v; nIn += 1 } else { sOut += v; qOut += v * v; nOut += 1 }
        }
        guard nIn > 1, nOut > 1 else { return 0 }
        let mIn = sIn / nIn, mOut = sOut / nOut
        let ss = (qIn - nIn * mIn * mIn) + (qOut - nOut * mOut * mOut)
        let pooled = (max(0, ss) / (nIn + nOut - 2)).squareRoot()
        return pooled > 0 ? (mIn - mOut) / pooled : 0
    }

    /// The one-sided permutation p-value of `effect(values, labels, topic)`:
    /// (1 + the shuffles whose effect is at least the observed one) /
    /// (1 + `permutations`), the labels shuffled uniformly (Fisher–Yates).
    static func permutationP(_ values: [Double], labels: [Int], topic: Int, permutations: Int,
                                    rng: inout SeededRandom) -> Double {
        let observed = effect(values, labels: labels, topic: topic)
        var shuffled = labels, atLeast = 0
        for _ in 0 ..< permutations {
            shuffle(&shuffled, &rng)
            // A tolerance for ties: the observed effect recomputed from a
            // permutation that happens to restore the labels must count.
            if effect(values, labels: shuffled, topic: topic) >= observed - 1e-12 { atLeast += 1 }
        }
        return Double(1 + atLeast) / Double(1 + permutations)
    }

    static func shuffle(_ a: inout [Int], _ rng: inout SeededRandom) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            a.swapAt(i, j)
        }
    }

    /// Holm's step-down correction: adjusted p-values, in the input's order,
    /// that control the family-wise error over all of them.
    static func holm(_ p: [Double]) -> [Double] {
        let order = p.indices.sorted { p[$0] < p[$1] }
        var adjusted = [Double](repeating: 1, count: p.count), running = 0.0
        for (rank, i) in order.enumerated() {
            running = max(running, min(1, Double(p.count - rank) * p[i]))
            adjusted[i] = running
        }
        return adjusted
    }

    /// Half of each topic's prompts (rounded down), chosen by `seed`, are
    /// held out (1); the rest are the discovery half (0).
    static func split(labels: [Int], seed: UInt64) -> [Int] {
        var rng = SeededRandom(seed: seed)
        var half = [Int](repeating: 0, count: labels.count)
        for topic in Set(labels).sorted() {
            var members = labels.indices.filter { labels[$0] == topic }
            shuffle(&members, &rng)
            for i in members.prefix(members.count / 2) { half[i] = 1 }
        }
        return half
    }

    // MARK: The whole analysis

    struct Settings: Sendable {
        var neurons: Int
        var clusters: Int
        var linkage: Clustering.Linkage?     // nil: k-means
        var permutations: Int
        var alpha: Double
        var seed: UInt64
        init(neurons: Int, clusters: Int, linkage: Clustering.Linkage?, permutations: Int, alpha: Double, seed: UInt64) {
            self.neurons = neurons; self.clusters = clusters; self.linkage = linkage
            self.permutations = permutations; self.alpha = alpha; self.seed = seed
        }
    }

    /// One neuron shown: where it sits, and how topic-selective it is on
    /// each half.
    public struct NeuronStats: Codable, Sendable, Equatable {
        public var neuron: Int
        /// η² and F of its importance by topic on the discovery half (what chose it).
        public var eta2: Double
        public var f: Double
        /// η² on the held-out half (not used to choose anything).
        public var eta2HeldOut: Double
        /// The topic of its highest mean importance on the discovery half.
        public var topic: Int

        enum CodingKeys: String, CodingKey { case neuron, eta2, f, eta2HeldOut = "eta2_held_out", topic }
    }

    /// A cluster's candidate topic and its test on the held-out half.
    public struct ClusterTest: Codable, Sendable, Equatable {
        public var cluster: Int
        public var size: Int
        /// The topic the cluster was most selective for on the discovery half.
        public var candidate: Int
        /// Cohen's d of the cluster's mean importance, candidate topic against the rest, on each half.
        public var effectDiscovery: Double
        public var effect: Double
        /// The held-out permutation p-value, and Holm's correction over the clusters tested.
        public var p: Double
        public var pCorrected: Double
        public var significant: Bool
        /// The topic with the largest effect on the held-out half, and whether it is the candidate.
        public var heldOutBest: Int
        public var agrees: Bool
        /// The member most selective for the candidate on the discovery half (index into the neurons shown).
        public var representative: Int

        enum CodingKeys: String, CodingKey {
            case cluster, size, candidate, effectDiscovery = "effect_discovery", effect, p, pCorrected = "p_corrected",
                 significant, heldOutBest = "held_out_best", agrees, representative
        }
    }

    struct Result: Sendable {
        /// 0 for a discovery prompt, 1 for a held-out one.
        var half: [Int]
        var neurons: [NeuronStats]
        /// [neurons shown][prompts]: importance standardised by the discovery half's mean and deviation.
        var values: [[Double]]
        /// [neurons shown][topics]: the mean of `values` over each topic's prompts of each half.
        var topicMeans: [[Double]]
        var topicMeansHeldOut: [[Double]]
        var clusters: [Int]
        var order: [Int]
        var merges: [Merge]
        var tests: [ClusterTest]
        /// The share of significant tags whose topic is also first on the held-out half (nil with none).
        var agreement: Double?
        /// The same share over every cluster, significant or not.
        var agreementAll: Double
    }

    /// `importance` is [prompts][neurons] for every neuron of the layer;
    /// `labels` the topic (0 ..< `topics`) of each prompt.
    static func analyse(importance: [[Double]], labels: [Int], topics: Int, settings s: Settings) -> Result {
        let m = importance.first?.count ?? 0
        let half = split(labels: labels, seed: s.seed)
        let discovery = labels.indices.filter { half[$0] == 0 }, heldOut = labels.indices.filter { half[$0] == 1 }
        let labelsA = discovery.map { labels[$0] }, labelsB = heldOut.map { labels[$0] }
        func column(_ n: Int, _ rows: [Int]) -> [Double] { rows.map { importance[$0][n] } }

        // Selectivity on the discovery half chooses the neurons.
        let anovas = (0 ..< m).map { anova(column($0, discovery), labels: labelsA, groups: topics) }
        let chosen = Array((0 ..< m).sorted { (anovas[$0].eta2, $1) > (anovas[$1].eta2, $0) }.prefix(min(s.neurons, m))).sorted()

        // Standardised by the discovery half only.
        let values = chosen.map { n -> [Double] in
            let a = column(n, discovery)
            let mean = a.reduce(0, +) / Double(max(1, a.count))
            let sd = (a.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(1, a.count - 1))).squareRoot()
            return importance.map { sd > 0 ? ($0[n] - mean) / sd : 0 }
        }
        func means(_ row: [Double], _ rows: [Int]) -> [Double] {
            (0 ..< topics).map { t in
                let r = rows.filter { labels[$0] == t }
                return r.isEmpty ? 0 : r.reduce(0) { $0 + row[$1] } / Double(r.count)
            }
        }
        let topicMeans = values.map { means($0, discovery) }
        let topicMeansHeldOut = values.map { means($0, heldOut) }
        let neurons = chosen.enumerated().map { i, n in
            NeuronStats(neuron: n, eta2: anovas[n].eta2, f: anovas[n].f,
                        eta2HeldOut: anova(column(n, heldOut), labels: labelsB, groups: topics).eta2,
                        topic: topicMeans[i].indices.max { topicMeans[i][$0] < topicMeans[i][$1] } ?? 0)
        }

        // Clusters of the discovery half's topic profiles (each neuron's
        // mean standardised importance per topic, which already sums to
        // about zero: cosine distance compares their shapes).
        let k = min(max(1, s.clusters), chosen.count)
        var merges: [Merge] = [], order: [Int], clusters: [Int]
        if let linkage = s.linkage {
            merges = Clustering.agglomerative(Clustering.cosineDistances(topicMeans), linkage: linkage)
            order = Clustering.leafOrder(merges, leaves: chosen.count)
            clusters = Clustering.cut(merges, leaves: chosen.count, k: k, order: order)
        } else {
            clusters = Clustering.kMeans(topicMeans, k: k, seed: s.seed)
            order = chosen.indices.sorted { (clusters[$0], $0) < (clusters[$1], $1) }
        }

        // Each cluster: its candidate topic on the discovery half, tested once on the held-out half.
        var rng = SeededRandom(seed: s.seed ^ 0x5EED_7E57)
        // k-means can leave a cluster empty (identical profiles); it numbers
        // clusters by size, so the ones found are 0 ..< found.
        let found = (clusters.max() ?? 0) + 1
        var tests = (0 ..< found).map { cl -> ClusterTest in
            let members = chosen.indices.filter { clusters[$0] == cl }
            let score = labels.indices.map { p in members.reduce(0) { $0 + values[$1][p] } / Double(members.count) }
            let a = discovery.map { score[$0] }, b = heldOut.map { score[$0] }
            let effectsA = (0 ..< topics).map { effect(a, labels: labelsA, topic: $0) }
            let candidate = effectsA.indices.max { (effectsA[$0], $1) < (effectsA[$1], $0) } ?? 0
            let effectsB = (0 ..< topics).map { effect(b, labels: labelsB, topic: $0) }
            let best = effectsB.indices.max { (effectsB[$0], $1) < (effectsB[$1], $0) } ?? 0
            let p = permutationP(b, labels: labelsB, topic: candidate, permutations: s.permutations, rng: &rng)
            let representative = members.max { topicMeans[$0][candidate] < topicMeans[$1][candidate] } ?? members[0]
            return ClusterTest(cluster: cl, size: members.count, candidate: candidate, effectDiscovery: effectsA[candidate],
                               effect: effectsB[candidate], p: p, pCorrected: p, significant: false, heldOutBest: best,
                               agrees: best == candidate, representative: representative)
        }
        let corrected = holm(tests.map(\.p))
        for i in tests.indices {
            tests[i].pCorrected = corrected[i]
            // Significant and in the direction of the candidate.
            tests[i].significant = corrected[i] < s.alpha && tests[i].effect > 0
        }
        let tagged = tests.filter(\.significant)
        return Result(half: half, neurons: neurons, values: values, topicMeans: topicMeans, topicMeansHeldOut: topicMeansHeldOut,
                      clusters: clusters, order: order, merges: merges, tests: tests,
                      agreement: tagged.isEmpty ? nil : Double(tagged.filter(\.agrees).count) / Double(tagged.count),
                      agreementAll: Double(tests.filter(\.agrees).count) / Double(max(1, tests.count)))
    }
}
