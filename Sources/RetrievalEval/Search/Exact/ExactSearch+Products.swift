import CKernels

/// How the exact search computes its products.
public enum ExactProductKernel: String, Sendable, CaseIterable {
    /// Let the cost model choose (see `ExactSearch.chosenProducts`).
    case automatic
    /// sgemm: the fastest products, in an order BLAS chooses; candidates whose scores nearly
    /// tie are then scored again in the canonical order before they are ranked (see
    /// `CanonicalRanking`).
    case blas
    /// Every product in the canonical score's own fixed order (`dmle_fixed_products`), so
    /// every score is final: no candidate is scored twice and none is kept beyond the depth.
    /// Cosine and inner products only (squared distances keep sgemm).
    case canonical
}

/// Which products pay: sgemm, or products that are the canonical scores themselves.
///
/// With sgemm, every kept candidate within the rounding bound of a neighbour's score is
/// scored again in the canonical order (`CanonicalRanking`); on deep lists over many
/// references nearly all are, and the ranking then costs a second, scattered pass over those
/// pairs (a quarter of a deep search's time; the checks at the list's end can cost as much
/// again). Products in the canonical order (the C kernel, AVX-512) cost about 1.1-1.2 times
/// sgemm's at d = 384 or 512 (more at d = 128, where the lane sums weigh more, and 1.6 times
/// on rows with values near 1e-30, whose products underflow: the separate multiply pays for
/// subnormal results, where sgemm's fused one does not), and remove that work, and the
/// slack kept beyond each depth. Shallow lists have few candidates to re-score, so sgemm wins
/// there. The crossover, measured on three sets (d = 128, 384, 512) at several depths, is
/// about 3% of the references kept: docs/benchmarks.md, "Products in the canonical order".
/// It was measured on AMD Zen 4, whose separate multiply and add pipes make the kernel as
/// fast in principle as fused multiply-adds; where multiplies and adds share ports (Intel) it
/// would be about twice as slow, unmeasured, so the model takes it only on AMD processors.
/// Forced (`.canonical`) it runs anywhere, the portable loop where AVX-512 is missing.
extension ExactSearch {
    /// The mean share of the references a query keeps at and above which the canonical
    /// products pay (measured: see above).
    static let canonicalProductsCrossover = 0.03

    /// Whether the products are the canonical scores for queries of `depths`.
    func chosenProducts(depths: [Int]) -> Bool {
        guard distance != .squaredL2 else { return false }
        switch productKernel {
        case .blas: return false
        case .canonical: return true
        case .automatic:
            // Only where the vector kernel was measured to pay: one pair at a time it is far
            // slower than sgemm, and where multiplies and adds share ports it is unmeasured.
            guard ExactSearch.canonicalProductsPay else { return false }
            return ExactSearch.meanKept(depths) >= ExactSearch.canonicalProductsCrossover * Double(referenceCount)
        }
    }

    /// Whether `dmle_fixed_products` has its vector kernel on this processor, and one with
    /// separate multiply and add pipes (AMD Zen 4 and later), where it was measured.
    static let canonicalProductsPay = dmle_fixed_products_pays() != 0
}
