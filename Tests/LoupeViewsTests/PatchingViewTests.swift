import Foundation
import LoupeCore
import LoupeModel
import LoupeTestSupport
import LoupeViews
@testable import ActivationPatching
import Testing

/// The activation-patching view's own logic: the default corrupted prompt,
/// and records whose checks do not hold are refused.
@Suite struct PatchingViewTests {
    @Test func defaultCorruptionSwapsTheFirstTwoNames() {
        #expect(ActivationPatchingView.swappedNames("When Mary and John went to the store, John gave a drink to")
            == "When John and Mary went to the store, Mary gave a drink to")
        // Words that start the prompt or a sentence are not names to swap.
        #expect(ActivationPatchingView.swappedNames("Then Alice met Bob. After that Bob thanked Alice.")
            == "Then Bob met Alice. After that Alice thanked Bob.")
        #expect(ActivationPatchingView.swappedNames("The cat sat. The dog ran.") == nil)
        // A name inside a longer word is left alone.
        #expect(ActivationPatchingView.swappedNames("When Ann and Bo met, Annabel saw Bo") == "When Bo and Ann met, Annabel saw Ann")
    }

    /// The committed example record passes its checks; with any one of them
    /// made false it is refused, naming the check.
    @Test func recordsFailingTheirChecksAreRefused() throws {
        let view = try BuiltinViews.registry.view("activation-patching")
        func mutated(_ change: (inout [String: Any]) -> Void) throws -> String {
            try decodeChanged(view, golden: "example-activation-patching", field: "patching", change)
        }
        #expect(try mutated { $0["embedding_check"] = 0.9 }.contains("resid_pre of block 0"))
        #expect(try mutated { $0["final_check"] = 1.2 }.contains("final residual"))
        #expect(try mutated {
            var values = $0["values"] as! [[Double]]
            values[7][1] = 0.05
            $0["values"] = values
        }.contains("block 7 position 1, before the first differing token"))
        #expect(try mutated { $0["corrupted_difference"] = $0["clean_difference"] }.contains("closer than"))
    }

    /// A bare render on the IOI prompt: the corrupted prompt, the target and
    /// the counterfactual all come from the defaults, and mlp_out's map
    /// has the figure's shape and finds its cells where the names are.
    @Test func defaultsOnTheIOIPrompt() throws {
        let (_, record) = try render("activation-patching", prompt: ActivationPatchingView.info.example.prompt,
                                     options: ["site": "mlp_out"])
        let data = try #require(record.data as? ActivationPatchingView.Data)
        #expect(data.corrupted == "When John and Mary went to the store, Mary gave a drink to")
        #expect(data.target.text == " Mary" && data.counterfactual.text == " John")
        #expect(data.patching.site == .mlpOut && data.patching.values.count == 30 && data.patching.values[0].count == data.tokens.count)
        #expect(data.patching.differing == [2, 4, 10], "\(data.patching.differing)")
    }
}
