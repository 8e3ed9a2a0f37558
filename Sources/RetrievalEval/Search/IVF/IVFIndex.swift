/// An inverted file with exhaustive lists (IVF-Flat, as in Jégou et al. 2011 without the
/// quantisation): k-means cuts the references into `nlist` lists around centroids; a query is
/// compared with the `nprobe` lists whose centroids are nearest, every reference in them
/// scored exactly. With nprobe = nlist it is an exact search.
///
/// The references are stored list by list in one matrix, so a probed list is a contiguous
/// block: the queries probing it are gathered and scored against it with one sgemm.
/// Coarse assignment and probing use the index's distance: squared L2 to the centroid for
/// cosine (normalised rows) and l2, the inner product with the centroid for ip.
public final class IVFIndex: VectorIndex, @unchecked Sendable {
    /// The build parameters.
    public let parameters: IVFParameters
    /// The similarity the index was built for.
    public let distance: Distance
    /// The number of references indexed.
    public let count: Int
    /// The dimension of the vectors.
    public let dimension: Int
    /// The number of lists (nlist) built: k-means clusters.
    public let lists: Int
    /// A hash of the vectors as given (before normalisation): a saved index only loads onto the
    /// same vectors.
    public let vectorHash: UInt64
    let centroids: Matrix
    let centroidNorms: [Float]
    /// List l holds slots offsets[l] ..< offsets[l + 1].
    let offsets: [Int]
    /// The reference index in each slot, and each reference's slot.
    let ids: [Int32]
    let slots: [Int32]
    /// The references (normalised for cosine), slot by slot: `count` x `dimension`.
    let vectors: UnsafeMutablePointer<Float>
    /// |r|^2 per slot, for l2.
    let norms: [Float]

    /// Always `.ivf`.
    public var kind: IndexKind { .ivf }
    /// The build parameters with nlist resolved for the references, as stored.
    public var settings: [(String, String)] { parameters.description(references: count) }
    /// The memory held in bytes: vectors, centroids, ids and norms in float32 or int32, list
    /// offsets in 64 bits.
    public var memoryBytes: Int { 4 * (count * dimension + centroids.values.count + ids.count + slots.count + norms.count) + 8 * offsets.count }

    init(parameters: IVFParameters, distance: Distance, prepared: Matrix, centroids: Matrix, assignment: [Int32], vectorHash: UInt64) {
        let n = prepared.rows, d = prepared.columns, k = centroids.rows
        self.parameters = parameters
        self.distance = distance
        self.count = n
        self.dimension = d
        self.lists = k
        self.vectorHash = vectorHash
        self.centroids = centroids
        centroidNorms = centroids.rowNorms().map { Float($0 * $0) }
        var sizes = [Int](repeating: 0, count: k + 1)
        for a in assignment { sizes[Int(a) + 1] += 1 }
        for l in 0 ..< k { sizes[l + 1] += sizes[l] }
        offsets = sizes
        var next = Array(sizes.dropLast())
        var ids = [Int32](repeating: 0, count: n)
        var slots = [Int32](repeating: 0, count: n)
        for i in 0 ..< n {
            let l = Int(assignment[i])
            ids[next[l]] = Int32(i)
            slots[i] = Int32(next[l])
            next[l] += 1
        }
        self.ids = ids
        self.slots = slots
        let reordered = UnsafeMutablePointer<Float>.allocate(capacity: max(1, n * d))
        prepared.values.withUnsafeBufferPointer { p in
            for s in 0 ..< n {
                (reordered + s * d).initialize(from: p.baseAddress! + Int(ids[s]) * d, count: d)
            }
        }
        vectors = reordered
        let preparedNorms = distance == .squaredL2 ? prepared.rowNorms() : []
        norms = distance == .squaredL2 ? ids.map { Float(preparedNorms[Int($0)] * preparedNorms[Int($0)]) } : []
    }

    deinit { vectors.deallocate() }

    /// Trains the lists on a seeded sample of `references` and fills them.
    ///
    /// - Throws: `SearchError` for bad parameters, an empty set or zero rows with cosine.
    public static func build(
        _ references: Matrix, distance: Distance, parameters: IVFParameters = IVFParameters(),
        threads: Int = ExactSearch.defaultThreads, progress: SearchProgress? = nil
    ) throws -> IVFIndex {
        let n = references.rows, d = references.columns
        guard n > 0 else { throw SearchError("an IVF index needs at least one vector, found none") }
        guard n < 1 << 31 else { throw SearchError("an IVF index holds fewer than 2^31 vectors, found \(n)") }
        try parameters.validate(references: n)
        let prepared = try prepare(references, distance: distance)
        let k = parameters.lists(for: n)
        var rng = SplitMix64(seed: parameters.seed)
        // The training sample: a seeded subset when the set is larger than needed, in index order.
        let sampleSize = min(n, parameters.trainingPerList * k)
        var training = prepared
        if sampleSize < n {
            let chosen = rng.distinctIndices(sampleSize, below: n).sorted()
            var values = [Float](repeating: 0, count: sampleSize * d)
            for (row, i) in chosen.enumerated() {
                for j in 0 ..< d { values[row * d + j] = prepared.values[i * d + j] }
            }
            training = Matrix(rows: sampleSize, columns: d, values: values)
        }
        progress?(0.05)
        let kmeans = KMeans(clusters: k, iterations: parameters.iterations, initialization: parameters.initialization,
                            seed: rng.next(), threads: threads)
        let centroids = kmeans.fit(training)
        progress?(0.9)
        let assignment = coarse(prepared, centroids: centroids, distance: distance, probes: 1, threads: threads)
        progress?(1)
        return IVFIndex(parameters: parameters, distance: distance, prepared: prepared, centroids: centroids,
                        assignment: assignment, vectorHash: HNSWIndex.vectorHash(references))
    }

    static func prepare(_ vectors: Matrix, distance: Distance) throws -> Matrix {
        distance == .cosine ? try vectors.unitRows(rowName: "row", alternatives: "ip or l2") : vectors
    }

    /// The `probes` nearest lists of every row (`rows x probes`, nearest first, ties to the
    /// lower list), by one sgemm per block of rows: probing, filling the lists, and each
    /// k-means iteration's assignment.
    static func coarse(_ rows: Matrix, centroids: Matrix, distance: Distance, probes: Int, threads: Int) -> [Int32] {
        let n = rows.rows, k = centroids.rows, d = rows.columns
        let centroidNorms = centroids.rowNorms().map { Float($0 * $0) }
        var result = [Int32](repeating: 0, count: n * probes)
        // Rows per sgemm: 1,024, fewer with many lists (the score block stays under 64 MiB).
        let block = max(1, min(1024, (1 << 24) / max(1, k)))
        let blocks = (n + block - 1) / block
        let workers = max(1, min(threads, blocks))
        BLAS.setThreads(1)
        rows.values.withUnsafeBufferPointer { rv in
            centroids.values.withUnsafeBufferPointer { cv in
                result.withUnsafeMutableBufferPointer { out in
                    let io = UncheckedSendable((rv, cv, out))
                    parallelFor(workers: workers) { w in
                        let (rv, cv, out) = io.value
                        var scores = [Float](repeating: 0, count: block * k)
                        var keys = [UInt64]()
                        keys.reserveCapacity(k)
                        var b = w
                        while b < blocks {
                            let lo = b * block, count = min(block, n - lo)
                            scores.withUnsafeMutableBufferPointer { s in
                                BLAS.gemmNT(m: count, n: k, k: d, a: rv.baseAddress! + lo * d, lda: d,
                                            b: cv.baseAddress!, ldb: d, c: s.baseAddress!, ldc: k)
                                for i in 0 ..< count {
                                    if probes == 1 {
                                        // The nearest only (k-means, building): a running minimum.
                                        var best = UInt64.max
                                        for c in 0 ..< k {
                                            let dot = s[i * k + c]
                                            let value = distance == .innerProduct ? -dot : centroidNorms[c] - 2 * dot
                                            best = min(best, RankedKey.make(value, Int32(c)))
                                        }
                                        out[lo + i] = RankedKey.index(best)
                                        continue
                                    }
                                    keys.removeAll(keepingCapacity: true)
                                    for c in 0 ..< k {
                                        let dot = s[i * k + c]
                                        let value = distance == .innerProduct ? -dot : centroidNorms[c] - 2 * dot
                                        keys.append(RankedKey.make(value, Int32(c)))
                                    }
                                    if probes < k { ApproximateLists.partialSort(&keys, first: probes) } else { keys.sort() }
                                    for p in 0 ..< probes { out[(lo + i) * probes + p] = RankedKey.index(keys[p]) }
                                }
                            }
                            b += workers
                        }
                    }
                }
            }
        }
        return result
    }

    @inline(__always)
    func vector(_ reference: Int32) -> UnsafePointer<Float> {
        UnsafePointer(vectors + Int(slots[Int(reference)]) * dimension)
    }
}
