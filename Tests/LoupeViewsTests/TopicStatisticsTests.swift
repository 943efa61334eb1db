import Foundation
import LoupeCore
import LoupeModel
@testable import NeuronClusters
import Testing

/// The statistics behind a topic tag, on data whose answer is known. The
/// numbers are pure Swift arithmetic in a fixed order (no matrix library),
/// so a seed gives the same result on every machine.
@Suite struct TopicStatisticsTests {
    /// Worked by hand: groups {1, 2, 3} and {4, 5, 6}. Grand mean 3.5,
    /// SS_between = 3·1.5² + 3·1.5² = 13.5, SS_total = 17.5, SS_within = 4:
    /// η² = 13.5 / 17.5, F = (13.5 / 1) / (4 / 4) = 13.5. Cohen's d: means
    /// 2 and 5, pooled SD √(4 / 4) = 1, so d = 3 for group 1.
    @Test func anovaAndEffectByHand() {
        let values = [1.0, 2, 3, 4, 5, 6], labels = [0, 0, 0, 1, 1, 1]
        let (eta2, f) = TopicStatistics.anova(values, labels: labels, groups: 2)
        #expect(abs(eta2 - 13.5 / 17.5) < 1e-12 && abs(f - 13.5) < 1e-12)
        #expect(abs(TopicStatistics.effect(values, labels: labels, topic: 1) - 3) < 1e-12)
        #expect(abs(TopicStatistics.effect(values, labels: labels, topic: 0) + 3) < 1e-12)
        #expect(TopicStatistics.anova([2, 2, 2, 2], labels: [0, 0, 1, 1], groups: 2) == (0, 0))
    }

    /// Holm's adjustment of (0.01, 0.04, 0.03, 0.005): sorted 0.005·4, 0.01·3,
    /// 0.03·2, 0.04·1, made monotone: 0.02, 0.03, 0.06, 0.06.
    @Test func holmByHand() {
        let adjusted = TopicStatistics.holm([0.01, 0.04, 0.03, 0.005])
        for (a, b) in zip(adjusted, [0.03, 0.06, 0.06, 0.02]) { #expect(abs(a - b) < 1e-12, "\(adjusted)") }
        #expect(TopicStatistics.holm([0.5, 0.9]) == [1, 1])
    }

    /// A perfectly separated group reaches the test's floor 1 / (B + 1); a
    /// group that is not different does not come near it.
    @Test func permutationP() {
        var rng = SeededRandom(seed: 1)
        let labels = (0 ..< 40).map { $0 / 10 }
        let separated = labels.map { $0 == 2 ? 5.0 : 0 } .enumerated().map { $0.element + Double($0.offset % 10) * 0.01 }
        #expect(TopicStatistics.permutationP(separated, labels: labels, topic: 2, permutations: 1000, rng: &rng) == 1.0 / 1001)
        let flat = (0 ..< 40).map { Double(($0 * 7919) % 13) }
        #expect(TopicStatistics.permutationP(flat, labels: labels, topic: 2, permutations: 1000, rng: &rng) > 0.05)
    }

    /// The split holds out half of every topic, and a seed fixes it.
    @Test func splitIsStratified() {
        let labels = (0 ..< 90).map { $0 % 9 < 5 ? 0 : $0 % 9 < 8 ? 1 : 2 }
        let half = TopicStatistics.split(labels: labels, seed: 3)
        for t in 0 ... 2 {
            let members = labels.indices.filter { labels[$0] == t }
            #expect(members.filter { half[$0] == 1 }.count == members.count / 2)
        }
        #expect(half == TopicStatistics.split(labels: labels, seed: 3))
        #expect(half != TopicStatistics.split(labels: labels, seed: 4))
    }

    /// 10 topics × 40 prompts, 300 neurons of standard normal noise; with
    /// `plant`, neurons 10–15 rise by 1.2 on topic 3 and neurons 200–205 by
    /// 1.2 on topic 7 (a d of 1.2, near what the default model shows).
    static func planted(seed: UInt64, plant: Bool) -> (importance: [[Double]], labels: [Int]) {
        var rng = SeededRandom(seed: seed)
        func normal() -> Double {
            let u = max(rng.unit(), 1e-300), v = rng.unit()
            return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
        }
        let labels = (0 ..< 400).map { $0 / 40 }
        let importance = labels.map { t in
            (0 ..< 300).map { n -> Double in
                var x = normal()
                if plant, t == 3, (10 ... 15).contains(n) { x += 1.2 }
                if plant, t == 7, (200 ... 205).contains(n) { x += 1.2 }
                return x
            }
        }
        return (importance, labels)
    }

    static let settings = TopicStatistics.Settings(neurons: 20, clusters: 4, linkage: .average, permutations: 1000, alpha: 0.01, seed: 0)

    /// The planted neurons are chosen, sit in clusters tagged with their
    /// topics at corrected p < 0.01, and the tags hold on the held-out half.
    @Test func plantedTopicsAreFoundAndTagged() {
        let (importance, labels) = Self.planted(seed: 11, plant: true)
        let r = TopicStatistics.analyse(importance: importance, labels: labels, topics: 10, settings: Self.settings)
        let chosen = Set(r.neurons.map(\.neuron))
        #expect(chosen.isSuperset(of: Set(10 ... 15).union(200 ... 205)), "chosen: \(chosen.sorted())")
        for (planted, topic) in [(10 ... 15, 3), (200 ... 205, 7)] {
            let rows = r.neurons.indices.filter { planted.contains(r.neurons[$0].neuron) }
            let clusters = Set(rows.map { r.clusters[$0] })
            #expect(clusters.count == 1, "planted neurons of topic \(topic) split over clusters \(clusters)")
            let test = r.tests[clusters.first!]
            #expect(test.significant && test.candidate == topic && test.pCorrected < 0.01 && test.agrees, "\(test)")
            #expect(rows.allSatisfy { r.neurons[$0].topic == topic })
        }
        // The tags are the planted ones: the noise clusters are "no topic".
        #expect(r.tests.filter(\.significant).count == 2, "\(r.tests)")
        #expect(r.agreement == 1)
    }

    /// Noise, however it is searched, gets no tag: the neurons with the
    /// highest η² of 300 are chosen on one half and tested on the other.
    @Test func nullDataGetsNoTag() {
        let (importance, labels) = Self.planted(seed: 11, plant: false)
        let r = TopicStatistics.analyse(importance: importance, labels: labels, topics: 10, settings: Self.settings)
        #expect(r.tests.filter(\.significant).isEmpty, "\(r.tests.filter(\.significant))")
        // The selection does find "selective" noise on the half that chose
        // it, which testing on that half would have reported; on the other
        // half the same neurons fall back.
        let mean = { (x: [Double]) in x.reduce(0, +) / Double(x.count) }
        #expect(mean(r.neurons.map(\.eta2)) > 1.5 * mean(r.neurons.map(\.eta2HeldOut)), "\(r.neurons)")
        #expect(r.agreement == nil)
    }

    /// k-means on identical profiles leaves clusters empty: the tests cover
    /// the clusters found, none of them empty.
    @Test func kMeansWithIdenticalProfiles() {
        let labels = (0 ..< 40).map { $0 / 10 }
        let importance = labels.indices.map { p in [Double](repeating: (labels[p] == 1 ? 2 : 0) + 0.01 * Double(p % 10), count: 6) }
        var settings = Self.settings
        settings.linkage = nil
        settings.neurons = 6
        settings.clusters = 3
        let r = TopicStatistics.analyse(importance: importance, labels: labels, topics: 4, settings: settings)
        #expect(Set(r.clusters).count < 3, "the profiles were meant to leave a cluster empty: \(r.clusters)")
        #expect(r.tests.count == Set(r.clusters).count && r.tests.allSatisfy { $0.size > 0 }, "\(r.clusters) \(r.tests)")
    }

    /// The error rate is what α says: over 100 null data sets at α = 0.05,
    /// the share with any tag stays at or under 0.12 (its expected value is
    /// at most 0.05; a binomial(100, 0.05) exceeds 11 with probability 0.005).
    @Test func falseTagsAreControlled() {
        var settings = Self.settings
        settings.alpha = 0.05
        settings.neurons = 12
        settings.clusters = 3
        let withTag = (0 ..< 100).filter { seed in
            let (importance, labels) = Self.planted(seed: UInt64(1000 + seed), plant: false)
            let small = importance.map { Array($0.prefix(60)) }
            settings.seed = UInt64(seed)
            return TopicStatistics.analyse(importance: small, labels: labels, topics: 10, settings: settings).tests.contains(where: \.significant)
        }.count
        #expect(withTag <= 12, "\(withTag) of 100 null sets got a tag")
    }
}

/// The shipped prompt sets.
@Suite struct PromptSetTests {
    /// At least 10 topics of at least 40 prompts, each at least 12 tokens,
    /// and the first content token does not give the topic away: a
    /// classifier that knows only it (leave-one-out, the most frequent topic
    /// of the other prompts with the same first token, ties to the first in
    /// order) does no better than twice chance.
    @Test func topicSetIsLargeAndOpeningsAreUninformative() throws {
        let set = try PromptSet(path: PromptSet.defaultPath)
        let topics = set.topics
        #expect(topics.count >= 10)
        for t in topics { #expect(set.entries.filter { $0.topic == t }.count >= 40, "\(t)") }
        let model = try smollm2.get()
        let skip = model.prependsBOS ? 1 : 0
        let ids = set.entries.map { model.tokenize($0.text) }
        for (e, i) in zip(set.entries, ids) { #expect(i.count - skip >= 12, "\(e.text)") }
        let first = ids.map { $0[skip] }
        var correct = 0
        for (i, e) in set.entries.enumerated() {
            var votes: [String: Int] = [:]
            for j in set.entries.indices where j != i && first[j] == first[i] { votes[set.entries[j].topic, default: 0] += 1 }
            let guess = topics.max { (votes[$0] ?? 0, topics.firstIndex(of: $1)!) < (votes[$1] ?? 0, topics.firstIndex(of: $0)!) }
            if guess == e.topic { correct += 1 }
        }
        let accuracy = Double(correct) / Double(set.entries.count)
        #expect(accuracy <= 2.0 / Double(topics.count), "first-token classifier accuracy \(accuracy)")
    }

    /// The earlier set of 10 topics × 12 prompts stays available.
    @Test func smallSetStaysUsable() throws {
        let set = try PromptSet(path: PromptSet.builtinPrefix + "topics-small")
        #expect(set.topics.count == 10 && set.entries.count == 120)
    }
}
