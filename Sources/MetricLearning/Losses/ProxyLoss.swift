/// A proxy-based metric-learning loss, defined by what it does with the class similarities.
///
/// Every loss in this module has the same pipeline, implemented once in `ProxyLoss+Pipeline`:
/// 1. normalise the embeddings z_i and the proxies p_ck to unit length;
/// 2. inner products a = z^ p^T (N x C K), i.e. cosines;
/// 3. class similarities S (N x C) by eq. (1) (`ClassSimilarity`; S = a when K = 1);
/// 4. the loss-specific part, `similarityLoss`: a value and dL/dS;
/// 5. plus `regularizerWeight * R` on the normalised proxies (eq. 3, `ProxyRegularizer`);
/// 6. back through 3, 2 and 1 to dL/dEmbeddings and dL/dProxies.
///
/// Conformers only implement step 4, which is where the paper's gradient formulas (eq. 5, 8,
/// 14, 18) live; the tests check them there.
public protocol ProxyLoss: Sendable {
    /// K, the number of proxies of each class.
    var proxiesPerClass: Int { get }
    /// gamma, the temperature of the class similarity (eq. 1); unused when K = 1.
    var similarityTemperature: Double { get }
    /// tau, the weight of the proxy regulariser (eq. 3); 0 for losses without one.
    var regularizerWeight: Double { get }

    /// The loss without the regulariser, and its gradient dL/dS, from the class similarities
    /// `similarities` (N x C, S(z_i, c) of normalised vectors) and the labels (N values in
    /// 0 ..< C).
    func similarityLoss(_ similarities: DoubleMatrix, labels: [Int]) -> LossAndGradient
}

/// A scalar loss and its gradient with respect to one input.
public struct LossAndGradient: Sendable {
    /// The loss.
    public var value: Double
    /// The gradient, the shape of the input it is taken with respect to.
    public var gradient: DoubleMatrix

    /// A value with its gradient.
    public init(value: Double, gradient: DoubleMatrix) {
        self.value = value
        self.gradient = gradient
    }
}

/// A loss value and its gradients with respect to the unnormalised inputs.
public struct LossGradients: Sendable {
    /// The loss.
    public var value: Double
    /// dL/dEmbeddings, N x d.
    public var embeddings: DoubleMatrix
    /// dL/dProxies, C K x d; row c K + k is proxy k of class c.
    public var proxies: DoubleMatrix
}

/// Why a loss refused its inputs: a code and a message that says what was expected, what
/// was found, and what to do.
public struct ProxyLossError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem this is.
    public enum Code: Sendable, Equatable {
        case invalidConfiguration
        case emptyBatch
        case dimensionMismatch
        case labelCountMismatch
        case proxyCountNotMultipleOfK
        case labelOutOfRange
        case zeroVector
    }

    /// What kind of problem this is.
    public let code: Code
    /// One line: what was expected, what was found, and what to do.
    public let message: String

    public var description: String { message }
}
