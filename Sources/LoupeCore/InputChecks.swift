import LoupeModel

/// Checks several views need against the model they run on: option ranges
/// that only the model knows. Ranges the declaration knows are checked
/// earlier, when the options are read (see `ViewOption`).
extension AnalysisInput {
    /// `layer` names a block of the model.
    public func checkLayer(_ layer: Int, view: String, option: String = "layer") throws {
        let n = model.config.layers
        guard (0 ..< n).contains(layer) else {
            throw CoreError.invalidInput(view: view, detail: "\(option) \(layer) is out of range (the model has blocks 0 to \(n - 1))")
        }
    }

    /// `head` names a query head of the model.
    public func checkHead(_ head: Int, view: String, option: String = "head") throws {
        let n = model.config.heads
        guard (0 ..< n).contains(head) else {
            throw CoreError.invalidInput(view: view, detail: "\(option) \(head) is out of range (the model has heads 0 to \(n - 1))")
        }
    }

    /// `neuron` names a neuron of the MLP's hidden layer.
    public func checkNeuron(_ neuron: Int, view: String, option: String = "neuron") throws {
        let n = model.config.dMLP
        guard (0 ..< n).contains(neuron) else {
            throw CoreError.invalidInput(view: view, detail: "\(option) \(neuron) is out of range (the MLP has neurons 0 to \(n - 1))")
        }
    }
}
