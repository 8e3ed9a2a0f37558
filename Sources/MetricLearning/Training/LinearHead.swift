import RetrievalEval

/// A linear projection head on frozen features: z = normalize(W^T f), W of shape D x d.
///
/// The losses normalise their inputs themselves, so training hands them u = F W and gets
/// dL/du back; dL/dW = F^T dL/du. Both products go through sgemm.
public struct LinearHead: Sendable {
    /// D x d, row-major: column j holds the weights of output dimension j.
    public var weights: Matrix

    /// D, the dimension of the input features.
    public var inputDimension: Int { weights.rows }
    /// d, the dimension of the embeddings the head outputs.
    public var outputDimension: Int { weights.columns }

    /// How the weights start.
    public enum Initialization: String, Sendable, CaseIterable {
        /// Gaussian entries with standard deviation 1 / sqrt(D), seeded.
        case random
        /// The identity (d = D only): training starts from the features' own quality.
        case identity
    }

    /// A head from D to d dimensions.
    /// - Throws: `ProxyLossError.invalidConfiguration` for identity with d != D.
    public init(inputDimension: Int, outputDimension: Int, initialization: Initialization = .random, seed: UInt64 = 0) throws {
        switch initialization {
        case .identity:
            guard inputDimension == outputDimension else {
                throw ProxyLossError(code: .invalidConfiguration,
                                     message: "an identity head needs --dim equal to the features' dimension \(inputDimension), found \(outputDimension)")
            }
            var w = Matrix(zeros: inputDimension, outputDimension)
            for i in 0 ..< inputDimension { w[i, i] = 1 }
            weights = w
        case .random:
            var rng = SplitMix64(seed: seed)
            let scale = 1 / Double(inputDimension).squareRoot()
            weights = Matrix(rows: inputDimension, columns: outputDimension,
                             values: (0 ..< inputDimension * outputDimension).map { _ in Float(rng.gaussian() * scale) })
        }
    }

    /// A head with the given weights.
    public init(weights: Matrix) {
        self.weights = weights
    }

    /// u = F W: the unnormalised projections of `features` (N x D), N x d.
    public func outputs(_ features: Matrix) -> Matrix {
        BLAS.product(features, weights)
    }

    /// z = normalize(F W): the embeddings, rows of unit length (a zero row stays zero).
    public func project(_ features: Matrix) -> Matrix {
        var u = outputs(features)
        u.normalizeRows()
        return u
    }

    /// dL/dW = F^T dL/du, D x d.
    public func weightGradient(features: Matrix, outputGradient: Matrix) -> Matrix {
        BLAS.product(features, transposed: true, outputGradient)
    }
}
