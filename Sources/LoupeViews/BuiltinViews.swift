import Attention
import LogitLens
import LogitAttribution
import ActivationPatching
import ValueVectors
import TopActivations
import LoupeCore
import NeuronClusters
import TextDeepDream

/// The one list of built-in views. A test fails when a folder under
/// `Plugins/` is missing from it.
public enum BuiltinViews {
    public static let plugins: [any ViewPlugin.Type] = [
        LogitLensView.self,
        AttentionView.self,
        NeuronClustersView.self,
        TextDeepDreamView.self,
        LogitAttributionView.self,
        ActivationPatchingView.self,
        ValueVectorsView.self,
        TopActivationsView.self,
    ]

    public static let registry = ViewRegistry(plugins)
}
