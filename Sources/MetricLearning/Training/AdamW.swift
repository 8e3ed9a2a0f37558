import RetrievalEval

/// AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization") for one
/// parameter matrix.
///
///     m = b1 m + (1 - b1) g        v = b2 v + (1 - b2) g^2
///     theta -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) + lr wd theta
///
/// The weight decay is applied to the parameters directly, not through the gradient. The
/// moments are kept in `Float`, like the parameters (and like PyTorch's float32 AdamW); the
/// bias corrections are computed in `Double`. The update is element-wise, so it is split over
/// `threads` workers.
public struct AdamW: Sendable {
    /// b1, the decay of the first moment (the mean of the gradients).
    public var beta1: Double = 0.9
    /// b2, the decay of the second moment (the mean of the squared gradients).
    public var beta2: Double = 0.999
    /// eps, added to the denominator so it never is 0.
    public var epsilon: Double = 1e-8
    /// wd, the decoupled weight decay (multiplied by the learning rate).
    public var weightDecay: Double
    /// How many threads an update uses.
    public var threads: Int
    private var m: [Float]
    private var v: [Float]
    private var step = 0

    /// An optimiser for a parameter of `count` values.
    public init(count: Int, weightDecay: Double = 0.01, threads: Int = ExactSearch.defaultThreads) {
        self.weightDecay = weightDecay
        self.threads = max(1, threads)
        m = [Float](repeating: 0, count: count)
        v = [Float](repeating: 0, count: count)
    }

    /// One update of `parameters` with `gradient` at learning rate `lr`.
    /// - Complexity: O(count).
    public mutating func update(_ parameters: inout [Float], gradient: [Float], learningRate lr: Double) {
        precondition(parameters.count == m.count && gradient.count == m.count)
        step += 1
        let c1 = 1 - pow(beta1, Double(step)), c2 = 1 - pow(beta2, Double(step))
        let b1 = Float(beta1), b2 = Float(beta2), eps = Float(epsilon)
        let stepSize = Float(lr / c1), inverseC2 = Float(1 / c2), decay = Float(lr * weightDecay)
        let count = m.count
        parameters.withUnsafeMutableBufferPointer { theta in
            gradient.withUnsafeBufferPointer { g in
                m.withUnsafeMutableBufferPointer { m in
                    v.withUnsafeMutableBufferPointer { v in
                        let pointers = UncheckedSendable((theta.baseAddress!, g.baseAddress!, m.baseAddress!, v.baseAddress!))
                        parallelRanges(count, workers: threads, minimumPerWorker: 1 << 15) { _, range in
                            let (theta, g, m, v) = pointers.value
                            // Four values at a time (sqrtps, divps): the scalar loop does not vectorise.
                            var i = range.lowerBound
                            while i + 4 <= range.upperBound {
                                let gi = FloatKernels.load(g + i)
                                let mi = b1 * FloatKernels.load(m + i) + (1 - b1) * gi
                                let vi = b2 * FloatKernels.load(v + i) + (1 - b2) * gi * gi
                                FloatKernels.store(mi, m + i)
                                FloatKernels.store(vi, v + i)
                                let t = FloatKernels.load(theta + i)
                                let denominator = FloatKernels.squareRoot(vi * inverseC2) + eps
                                FloatKernels.store(t - stepSize * mi / denominator - decay * t, theta + i)
                                i += 4
                            }
                            while i < range.upperBound {
                                let gi = g[i]
                                let mi = b1 * m[i] + (1 - b1) * gi
                                let vi = b2 * v[i] + (1 - b2) * gi * gi
                                m[i] = mi
                                v[i] = vi
                                let t = theta[i]
                                theta[i] = t - stepSize * mi / ((vi * inverseC2).squareRoot() + eps) - decay * t
                                i += 1
                            }
                        }
                    }
                }
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
