import Foundation
import LoupeCore
import LoupeModel
import LoupeTestSupport
import LoupeViews
@testable import ValueVectors
import Testing

/// The value-vectors view: its ranking and marks from the model's own
/// numbers, the per-neuron mode, and refusals.
@Suite struct ValueVectorsViewTests {
    /// The example: sub-updates in order of |m|·‖v‖, the first being the
    /// largest of all neurons; each list as the runtime's projection ranks
    /// it; the mark set exactly where the prediction is in the list.
    @Test func rankingAndMarksFollowTheModel() throws {
        let model = try smollm2.get()
        let view = ValueVectorsView.info
        let (_, record) = try render(view.id, prompt: view.example.prompt, options: view.example.options)
        let data = try #require(record.data as? ValueVectorsView.Data)
        #expect(data.layer == 22 && data.mode == "top" && data.updates.count == 12)
        let ids = model.tokenize(view.example.prompt)
        let post = Array(try #require(try model.forward(ids, hooks: .matching(["blocks.22.mlp.hook_post"])).cache[.mlpPost(22)]).row(ids.count - 1))
        let vectors = try model.valueVectors(layer: 22, activations: post)
        let scores = post.indices.map { abs(Double(post[$0])) * vectors.norms[$0] }
        #expect(data.updates[0].neuron == scores.indices.max { scores[$0] < scores[$1] })
        for u in data.updates.prefix(3) {
            let sign: Double = u.activation < 0 ? -1 : 1
            let p = vectors.projection(u.neuron).map { $0 * sign }
            #expect(u.promoted.map(\.id) == Array(p.indices.sorted { p[$0] > p[$1] }.prefix(8)), "neuron \(u.neuron)")
            #expect(u.promotesPrediction == u.promoted.contains { $0.id == data.predicted.id })
            let rank = p.filter { $0 > p[data.predicted.id] }.count
            #expect(u.predictionRank == rank, "neuron \(u.neuron): rank \(u.predictionRank), counted \(rank)")
        }
    }

    @Test func chosenNeuronsAndRefusals() throws {
        let (_, record) = try render("value-vectors", prompt: "The cat sat on the", options: ["layer": "-2", "neurons": "7, 300", "tokens": "3"])
        let data = try #require(record.data as? ValueVectorsView.Data)
        #expect(data.mode == "neurons" && data.updates.map(\.neuron) == [7, 300] && data.layer == 28)
        #expect(data.updates.allSatisfy { $0.promoted.count == 3 && $0.suppressed.count == 3 })
        func message(_ options: [String: String]) -> String {
            do { _ = try render("value-vectors", prompt: "The cat sat on the", options: options); return "" } catch { return "\(error)" }
        }
        #expect(message(["neurons": "7,x"]).contains("'x' is not a neuron of the MLP (0 to 1535)"))
        #expect(message(["neurons": "1536"]).contains("'1536' is not a neuron"))
        #expect(message(["layer": "30"]).contains("layer 30 is out of range"))
        #expect(message(["layer": "-31"]).contains("out of range"))
        #expect(message(["neurons": "7", "count": "3"]).contains("option 'count' applies when 'neurons' is not set"))
    }

    /// A record out of rank order, or whose score is not |m|·‖v‖, is refused.
    @Test func recordsAreChecked() throws {
        let view = try BuiltinViews.registry.view("value-vectors")
        func mutated(_ change: (inout [[String: Any]]) -> Void) throws -> String {
            try decodeChanged(view, golden: "example-value-vectors", field: "updates", change)
        }
        #expect(try mutated { $0.swapAt(0, 1) }.contains("not ranked by score"))
        #expect(try mutated { $0[2]["score"] = 99.0 }.contains("is not |activation| · norm"))
    }
}
