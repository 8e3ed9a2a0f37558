import MetricLearning
import RetrievalEval

/// A random matrix with entries uniform in -1 ... 1.
func randomMatrix(_ rows: Int, _ columns: Int, _ rng: inout SplitMix64) -> DoubleMatrix {
    DoubleMatrix(rows: rows, columns: columns,
                 values: (0 ..< rows * columns).map { _ in Double.random(in: -1 ... 1, using: &rng) })
}

/// A random batch: `n` embeddings of dimension `d`, labels in 0 ..< `classes` (all equal to
/// one class when `oneClass`, otherwise covering every class at least once when n allows),
/// and `classes * k` proxies.
struct Problem {
    var embeddings: DoubleMatrix
    var labels: [Int]
    var proxies: DoubleMatrix

    init(n: Int, d: Int, classes: Int, k: Int, oneClass: Bool, seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        embeddings = randomMatrix(n, d, &rng)
        proxies = randomMatrix(classes * k, d, &rng)
        if oneClass {
            let c = Int.random(in: 0 ..< classes, using: &rng)
            labels = Array(repeating: c, count: n)
        } else {
            labels = (0 ..< n).map { $0 < classes ? $0 : Int.random(in: 0 ..< classes, using: &rng) }
            labels.shuffle(using: &rng)
        }
    }
}

/// The derivative of `f` at `x` along coordinate `index`, by the five-point central stencil
/// (error O(h^4)).
func centralDifference(_ x: [Double], _ index: Int, h: Double = 1e-5, _ f: ([Double]) -> Double) -> Double {
    func at(_ t: Double) -> Double {
        var y = x
        y[index] += t
        return f(y)
    }
    return (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h)
}

/// The numerical gradient of `f` at `x`.
func numericalGradient(_ x: [Double], _ f: ([Double]) -> Double) -> [Double] {
    x.indices.map { centralDifference(x, $0, f) }
}

/// ||a - b|| / max(||a||, ||b||), or 0 when both are zero.
func relativeError(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    var diff = 0.0, na = 0.0, nb = 0.0
    for i in a.indices {
        diff += (a[i] - b[i]) * (a[i] - b[i])
        na += a[i] * a[i]
        nb += b[i] * b[i]
    }
    let scale = max(na, nb).squareRoot()
    return scale == 0 ? 0 : diff.squareRoot() / scale
}

/// max_i |a_i - b_i|.
func maxAbsoluteDifference(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

/// The threshold of every finite-difference check.
let gradientTolerance = 1e-7
