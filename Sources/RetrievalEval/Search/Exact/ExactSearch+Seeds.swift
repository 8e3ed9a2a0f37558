#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Seeded thresholds for the candidate buffers.
///
/// A buffer's threshold starts at -infinity and rises only as the buffer fills and is
/// compacted, so the first tiles a query meets are appended nearly whole, and a deep buffer is
/// compacted several times before its threshold settles. A strided sample of the references
/// (`seedSample` of them) is scored against every query first; the score that a little more
/// than the query's share of its kept candidates reach in the sample (its expected rank plus
/// three standard deviations plus 2) becomes its starting threshold. The passes then reject
/// most scores by one comparison from the first tile on.
///
/// The seed is an estimate, not a bound: a query whose seed was too high ends the passes
/// holding fewer than its kept candidates, and only then it is offered every reference again
/// with no threshold (`refill`). Either way a buffer ends holding exactly its best candidates
/// by the tiles' scores, so the lists are the unseeded path's, bit for bit. (The sample is
/// scored by sgemm whatever the products: a seed only steers, it decides nothing.)
extension ExactSearch {
    /// The sample size used when `seedSample` is not set: none when the references are fewer
    /// than 8,192 (the passes are short); 256 references when the queries keep under 1% of
    /// them on average (shallow lists gain little from a sharper seed, and a sample costs
    /// 2 s / N of the symmetric products); 1,024 for deeper lists, whose buffers are costly to
    /// compact when the seed is loose.
    func defaultSeedSample(kept: [Int]) -> Int {
        let nr = referenceCount
        let meanKept = ExactSearch.meanKept(kept)
        guard nr >= 8192, meanKept > 0 else { return 0 }
        return meanKept < 0.01 * Double(nr) ? 256 : 1024
    }

    /// Each query's starting threshold (-infinity where the sample says nothing useful), from
    /// `size` references spread evenly over the set; nil when `size` is 0.
    func sampledThresholds(kept: [Int], size requested: Int) throws -> [Float]? {
        let nr = referenceCount, nq = queryCount, d = dimensions, offset = queryOffset
        let size = min(requested, nr)
        guard size > 0, nq > 0 else { return nil }
        let columns = (0 ..< size).map { $0 * nr / size }
        let sample = try allocate(Float.self, count: size * d, for: "a sample of \(size) references")
        defer { free(sample) }
        let blockRows = min(nq, tileSize)
        let scores = try allocate(Float.self, count: blockRows * size, for: "the sample's scores")
        defer { free(scores) }
        let queryBuffer = try allocate(Float.self, count: blockRows * d, for: "a block of \(blockRows) queries")
        defer { free(queryBuffer) }
        var thresholds = [Float](repeating: -.infinity, count: nq)
        let candidates = availableDepth
        let skipSelf = isSelfRetrieval
        let (qn, rn) = (queryNorms, referenceNorms)
        thresholds.withUnsafeMutableBufferPointer { out in
        withAccess { ra, qa in
            for (k, r) in columns.enumerated() {
                // A row read from a file lands in place already; one in memory is copied.
                let target = sample + k * d, row = ra.row(r, buffer: target)
                if row != UnsafePointer(target) { target.update(from: row, count: d) }
            }
            for b0 in stride(from: 0, to: nq, by: blockRows) {
                let rows = min(blockRows, nq - b0)
                let qp = qa.rows(offset + b0, offset + b0 + rows, buffer: queryBuffer)
                let box = UncheckedSendable((scores, out.baseAddress!))
                parallelRanges(rows) { lo, hi in
                    let (scores, out) = box.value
                    BLAS.gemmNT(m: hi - lo, n: size, k: d, a: qp + lo * d, lda: d, b: sample, ldb: d, c: scores + lo * size, ldc: size)
                    var values: [Float] = []
                    values.reserveCapacity(size)
                    for i in lo ..< hi {
                        let q = b0 + i
                        guard kept[q] > 0 && kept[q] < candidates else { continue }
                        let row = scores + i * size
                        values.removeAll(keepingCapacity: true)
                        if distance == .squaredL2 {
                            for (k, r) in columns.enumerated() { values.append(2 * row[k] - qn[q] - rn[r]) }
                        } else {
                            values.append(contentsOf: UnsafeBufferPointer(start: row, count: size))
                        }
                        // The query itself, when sampled: column k = ceil(r size / nr) is
                        // the only one that can be row r (the columns increase).
                        let own = offset + q, k = (own * size + nr - 1) / nr
                        if skipSelf && k < size && columns[k] == own {
                            values.swapAt(k, values.count - 1)
                            values.removeLast()
                        }
                        let expected = Double(kept[q]) / Double(candidates) * Double(values.count)
                        // The chance that the sample holds this many of the query's kept
                        // candidates (so that the seed is too high and the query is refilled,
                        // one row of products in a batch) is under 1e-3 whatever the expected
                        // count, for references in random order: binomial tails,
                        // docs/benchmarks.md. The refills then cost at most 0.2% of the
                        // symmetric products; a looser seed costs more in appends.
                        let rank = Int((expected + 3 * expected.squareRoot() + 2).rounded(.up))
                        if rank < values.count {
                            out[q] = values.withUnsafeMutableBufferPointer { ExactSearch.largest($0, rank: rank) } + seedShift
                        }
                    }
                }
            }
        }
        }
        return thresholds
    }

    /// Offers each of `queries` (whose seeded thresholds were too high) every reference again.
    ///
    /// The queries go in batches of up to 256, spread over the workers (each owns its batches'
    /// buffers): a batch's rows are gathered and scored against each reference tile by one
    /// product, and each row of scores is offered whole. One query at a time, a refill was a
    /// product of one row, a matrix-vector product at a fraction of sgemm's speed: 7.5 ms
    /// per query at 20,000 x 512, where a batch costs about what its share of the tiles does.
    func refill(_ queries: [Int], _ candidates: TopKBuffers) throws {
        guard !queries.isEmpty else { return }
        let nr = referenceCount, d = dimensions, t = tileSize, offset = queryOffset
        let workers = max(1, min(threads, queries.count))
        let batch = min(256, (queries.count + workers - 1) / workers)
        let batches = (queries.count + batch - 1) / batch
        for q in queries { candidates.restart(q) }
        let excludeSelf = isSelfRetrieval
        try withAccess { ra, qa in
            // Per worker: the batch's rows, its scores against one tile, and (when the
            // references are read from a file) one tile of references.
            let referenceFloats = ra.copies ? min(t, nr) * d : 0
            let perWorker = batch * d + batch * min(t, nr) + referenceFloats
            let scratch = try allocate(Float.self, count: perWorker * workers, for: "refilling \(queries.count) queries")
            defer { free(scratch) }
            let box = UncheckedSendable(scratch)
            candidates.withHandle { h in
                parallelFor(workers: workers) { w in
                    let rows = box.value + perWorker * w, scores = rows + batch * d, references = scores + batch * min(t, nr)
                    for b in stride(from: w, to: batches, by: workers) {
                        let group = queries[b * batch ..< min(queries.count, (b + 1) * batch)]
                        for (i, q) in group.enumerated() {
                            let target = rows + i * d, row = qa.row(offset + q, buffer: target)
                            if row != UnsafePointer(target) { target.update(from: row, count: d) }
                        }
                        for j0 in stride(from: 0, to: nr, by: t) {
                            let cols = min(t, nr - j0)
                            let rp = ra.rows(j0, j0 + cols, buffer: ra.copies ? references : nil)
                            computeTile(rows, rp, rows: group.count, cols: cols, i0: 0, j0: j0, into: scores, queryIndices: group)
                            for (i, q) in group.enumerated() {
                                h.offerRow(q, scores + i * cols, count: cols, firstIndex: j0, skip: excludeSelf ? offset + q : -1)
                            }
                        }
                    }
                }
            }
        }
    }
}
