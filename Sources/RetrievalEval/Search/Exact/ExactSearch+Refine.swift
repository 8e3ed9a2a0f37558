import Dispatch

/// Exact re-ranking of near-ties, so that the result is the same whatever the tiling.
///
/// sgemm does not compute a given inner product the same way at every position of a tile
/// (edge kernels, blocking), so two float32 scores that are equal or within rounding of each
/// other may come out in either order depending on the tile size, the thread count or the
/// symmetric path. The float32 score f of a pair is within a rigorous bound eps of its value
/// computed in Double from the same float32 vectors (eps = 1.01 (d + 2) 2^-24 |q| |r| for an
/// inner product of d terms, Higham's gamma_d). So candidates whose sorted float scores are
/// separated by more than 2 eps are certainly in the right order; only runs of candidates
/// closer than that are rescored in Double (products of floats are exact in Double) and
/// re-sorted by (score, lower index). When such a run reaches past the kept candidates, the
/// query falls back to scoring every reference in Double. The lists are then the exact
/// top k by Double score with ties to the lower index: identical on every path.
extension ExactSearch {
    /// Extra candidates kept per query beyond k.
    static let slack = 16

    func refine(_ indices: [Int32], _ scores: [Float], kept: Int, depth: Int) -> Neighbors {
        let queryMatrix = queries ?? references
        let n = queryMatrix.rows
        var outIndices = [Int32](repeating: 0, count: n * depth)
        var outScores = [Float](repeating: 0, count: n * depth)
        let d = references.columns
        let u = 1.0 / 16_777_216.0  // 2^-24, the unit roundoff of float32
        let gamma = 1.01 * Double(d + 2) * u
        let referenceNormsD = references.rowNorms()
        let queryNormsD = queries?.rowNorms() ?? referenceNormsD
        let maxReference = referenceNormsD.max() ?? 0
        let available = availableDepth
        let selfRetrieval = isSelfRetrieval
        let distance = self.distance

        func bound(_ q: Int) -> Double {
            let a = queryNormsD[q]
            switch distance {
            case .cosine: return gamma * 1.000_01
            case .innerProduct: return gamma * a * maxReference
            case .squaredL2:
                return 2 * gamma * a * maxReference + 4.04 * u * (2 * a * maxReference + a * a + maxReference * maxReference)
            }
        }

        let thresholds = (0 ..< n).map { 2.02 * bound($0) }
        let referenceRows = references.rows
        queryMatrix.values.withUnsafeBufferPointer { qv in
            references.values.withUnsafeBufferPointer { rv in
                indices.withUnsafeBufferPointer { inIx in
                    scores.withUnsafeBufferPointer { inSc in
                        outIndices.withUnsafeMutableBufferPointer { oIx in
                            outScores.withUnsafeMutableBufferPointer { oSc in
                                let io = UnsafeSendableBox((qv, rv, inIx, inSc, oIx, oSc))
                                let workers = min(threads, max(1, n / 256))
                                DispatchQueue.concurrentPerform(iterations: workers) { w in
                                    let (qv, rv, inIx, inSc, oIx, oSc) = io.value
                                    var run: [(Double, Int32)] = []
                                    for q in n * w / workers ..< n * (w + 1) / workers {
                                        let query = UnsafeBufferPointer(rebasing: qv[q * d ..< (q + 1) * d])
                                        let exact = { (r: Int32) -> Double in
                                            ExactSearch.exactScore(query, UnsafeBufferPointer(rebasing: rv[Int(r) * d ..< (Int(r) + 1) * d]), distance)
                                        }
                                        let ix = inIx.baseAddress! + q * kept, sc = inSc.baseAddress! + q * kept
                                        let outI = oIx.baseAddress! + q * depth, outS = oSc.baseAddress! + q * depth
                                        for i in 0 ..< depth { outI[i] = ix[i]; outS[i] = sc[i] }
                                        let threshold = thresholds[q]
                                        var i = 0
                                        var fallback = false
                                        while i < depth {
                                            var j = i
                                            while j + 1 < kept && Double(sc[j]) - Double(sc[j + 1]) <= threshold { j += 1 }
                                            if j > i {
                                                if j == kept - 1 && kept < available { fallback = true; break }
                                                run.removeAll(keepingCapacity: true)
                                                for p in i ... j { run.append((exact(ix[p]), ix[p])) }
                                                run.sort { $0.0 > $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
                                                for p in i ... min(j, depth - 1) {
                                                    outI[p] = run[p - i].1
                                                    outS[p] = Float(run[p - i].0)
                                                }
                                            }
                                            i = j + 1
                                        }
                                        if fallback {
                                            var all: [(Double, Int32)] = []
                                            all.reserveCapacity(available)
                                            for r in 0 ..< referenceRows where !(selfRetrieval && r == q) {
                                                all.append((exact(Int32(r)), Int32(r)))
                                            }
                                            all.sort { $0.0 > $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
                                            for p in 0 ..< depth {
                                                outI[p] = all[p].1
                                                outS[p] = Float(all[p].0)
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return Neighbors(queries: n, depth: depth, indices: outIndices, scores: outScores)
    }

    /// The similarity of two float32 vectors computed in Double: every product is exact, the
    /// sum is in a fixed order, so the value depends on the two vectors only.
    @inline(__always)
    static func exactScore(_ q: UnsafeBufferPointer<Float>, _ r: UnsafeBufferPointer<Float>, _ distance: Distance) -> Double {
        var acc = SIMD4<Double>()
        let d = q.count
        var j = 0
        switch distance {
        case .cosine, .innerProduct:
            while j + 4 <= d {
                let a = SIMD4<Double>(Double(q[j]), Double(q[j + 1]), Double(q[j + 2]), Double(q[j + 3]))
                let b = SIMD4<Double>(Double(r[j]), Double(r[j + 1]), Double(r[j + 2]), Double(r[j + 3]))
                acc += a * b
                j += 4
            }
            var s = acc.sum()
            while j < d { s += Double(q[j]) * Double(r[j]); j += 1 }
            return s
        case .squaredL2:
            while j + 4 <= d {
                let a = SIMD4<Double>(Double(q[j]), Double(q[j + 1]), Double(q[j + 2]), Double(q[j + 3]))
                let b = SIMD4<Double>(Double(r[j]), Double(r[j + 1]), Double(r[j + 2]), Double(r[j + 3]))
                let diff = a - b
                acc += diff * diff
                j += 4
            }
            var s = acc.sum()
            while j < d { let diff = Double(q[j]) - Double(r[j]); s += diff * diff; j += 1 }
            return -s
        }
    }
}
