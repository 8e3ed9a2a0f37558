import RetrievalEval

/// AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization") for one
/// parameter matrix.
///
///     m = b1 m + (1 - b1) g        v = b2 v + (1 - b2) g^2
///     theta -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) + lr wd theta
///
/// The weight decay is applied to the parameters directly, not through the gradient.
public struct AdamW: Sendable {
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var epsilon: Double = 1e-8
    public var weightDecay: Double
    private var m: [Double]
    private var v: [Double]
    private var step = 0

    /// An optimiser for a parameter of `count` values.
    public init(count: Int, weightDecay: Double = 0.01) {
        self.weightDecay = weightDecay
        m = [Double](repeating: 0, count: count)
        v = [Double](repeating: 0, count: count)
    }

    /// One update of `parameters` with `gradient` at learning rate `lr`.
    public mutating func update(_ parameters: inout [Float], gradient: [Double], learningRate lr: Double) {
        precondition(parameters.count == m.count && gradient.count == m.count)
        step += 1
        let c1 = 1 - pow(beta1, Double(step)), c2 = 1 - pow(beta2, Double(step))
        for i in parameters.indices {
            let g = gradient[i]
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            let theta = Double(parameters[i])
            let updated = theta - lr * (m[i] / c1) / ((v[i] / c2).squareRoot() + epsilon) - lr * weightDecay * theta
            parameters[i] = Float(updated)
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
