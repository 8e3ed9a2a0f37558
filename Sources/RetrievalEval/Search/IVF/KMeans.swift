import CKernels

/// Lloyd's k-means, seeded, with assignments by BLAS and empty clusters repaired.
public struct KMeans: Sendable {
    /// How the first centroids are chosen.
    public enum Initialization: String, Sendable, CaseIterable {
        /// k-means++ (Arthur & Vassilvitskii 2007): each next centroid drawn with probability
        /// proportional to the squared distance to the nearest one chosen.
        case kmeansPlusPlus = "kmeans++"
        /// k distinct points drawn uniformly.
        case random
    }

    /// k: the number of clusters.
    public var clusters: Int
    /// Lloyd iterations at most.
    public var iterations: Int
    /// How the first centroids are chosen.
    public var initialization: Initialization
    /// Seeds the starts.
    public var seed: UInt64
    /// The number of threads assigning points.
    public var threads: Int

    /// A k-means of `clusters` clusters.
    public init(clusters: Int, iterations: Int = 20, initialization: Initialization = .random, seed: UInt64 = 1,
                threads: Int = ExactSearch.defaultThreads) {
        self.clusters = clusters
        self.iterations = iterations
        self.initialization = initialization
        self.seed = seed
        self.threads = threads
    }

    /// The centroids of `points` (`clusters` x d).
    ///
    /// Each iteration assigns every point to its nearest centroid in squared L2 (the IVF
    /// index's coarse assignment: |c|^2 - 2 x.c by sgemm in blocks), then moves every centroid to its points' mean. A
    /// cluster left empty takes half of the largest one: both get its centroid, pushed apart
    /// by a relative 1/1024 in opposite directions, so none is lost. Stops early when no
    /// assignment changes.
    /// - Precondition: 1 <= clusters <= points.rows.
    public func fit(_ points: Matrix) -> Matrix { cluster(points).centroids }

    /// A clustering: the centroids, each point's cluster and the inertia.
    public struct Result: Sendable {
        /// The final centroids, one per row.
        public let centroids: Matrix
        /// Each point's nearest centroid (squared L2, ties to the lower index).
        public let assignment: [Int32]
        /// The sum of the squared L2 distances of the points to their centroids.
        public let inertia: Double
    }

    /// `fit`, then every point assigned to its nearest final centroid, with the inertia
    /// (the objective k-means lowers).
    /// - Precondition: 1 <= clusters <= points.rows.
    public func cluster(_ points: Matrix) -> Result {
        let centroids = lloyd(points)
        let assignment = IVFIndex.coarse(points, centroids: centroids, distance: .squaredL2, probes: 1, threads: threads)
        let d = points.columns
        var inertia = 0.0
        points.values.withUnsafeBufferPointer { v in
            centroids.values.withUnsafeBufferPointer { c in
                for i in 0 ..< points.rows {
                    inertia += Double(dmle_l2sq(v.baseAddress! + i * d, c.baseAddress! + Int(assignment[i]) * d, d))
                }
            }
        }
        return Result(centroids: centroids, assignment: assignment, inertia: inertia)
    }

    /// The best of `restarts` seeded runs (each from its own k-means++ or random start), by
    /// inertia, as scikit-learn's `n_init`; restart r is seeded by the r-th draw of a
    /// SplitMix64 stream seeded with `seed`.
    public func cluster(_ points: Matrix, restarts: Int) -> Result {
        precondition(restarts >= 1)
        var seeds = SplitMix64(seed: seed)
        var best: Result?
        for _ in 0 ..< restarts {
            var run = self
            run.seed = seeds.next()
            let result = run.cluster(points)
            if best == nil || result.inertia < best!.inertia { best = result }
        }
        return best!
    }

    private func lloyd(_ points: Matrix) -> Matrix {
        precondition(clusters >= 1 && clusters <= points.rows)
        let d = points.columns
        var rng = SplitMix64(seed: seed)
        var centroids = initialCentroids(points, &rng)
        var assignment = [Int32](repeating: -1, count: points.rows)
        for _ in 0 ..< iterations {
            let next = IVFIndex.coarse(points, centroids: centroids, distance: .squaredL2, probes: 1, threads: threads)
            let changed = next != assignment
            assignment = next
            guard changed else { break }
            var sums = [Double](repeating: 0, count: clusters * d)
            var sizes = [Int](repeating: 0, count: clusters)
            points.values.withUnsafeBufferPointer { v in
                for i in 0 ..< points.rows {
                    let c = Int(assignment[i])
                    sizes[c] += 1
                    for j in 0 ..< d { sums[c * d + j] += Double(v[i * d + j]) }
                }
            }
            for c in 0 ..< clusters where sizes[c] > 0 {
                for j in 0 ..< d { centroids.values[c * d + j] = Float(sums[c * d + j] / Double(sizes[c])) }
            }
            for empty in 0 ..< clusters where sizes[empty] == 0 {
                let big = sizes.indices.max { sizes[$0] < sizes[$1] || (sizes[$0] == sizes[$1] && $0 > $1) }!
                for j in 0 ..< d {
                    let value = centroids.values[big * d + j]
                    centroids.values[empty * d + j] = value * (1 + 1.0 / 1024)
                    centroids.values[big * d + j] = value * (1 - 1.0 / 1024)
                }
                sizes[empty] = sizes[big] / 2
                sizes[big] -= sizes[empty]
            }
        }
        return centroids
    }

    private func initialCentroids(_ points: Matrix, _ rng: inout SplitMix64) -> Matrix {
        let n = points.rows, d = points.columns
        var chosen: [Int] = []
        switch initialization {
        case .random:
            chosen = rng.distinctIndices(clusters, below: n)
        case .kmeansPlusPlus:
            chosen.append(Int(rng.next() % UInt64(n)))
            var nearest = [Double](repeating: .infinity, count: n)
            points.values.withUnsafeBufferPointer { v in
                for _ in 1 ..< clusters {
                    let last = v.baseAddress! + chosen.last! * d
                    var total = 0.0
                    for i in 0 ..< n {
                        nearest[i] = min(nearest[i], Double(dmle_l2sq(v.baseAddress! + i * d, last, d)))
                        total += nearest[i]
                    }
                    var next = 0
                    if total > 0 {
                        var target = rng.nextUnit() * total
                        for i in 0 ..< n {
                            target -= nearest[i]
                            if target < 0 { next = i; break }
                            next = i
                        }
                    } else {
                        // Every point coincides with a chosen centroid: take any other point.
                        next = (chosen.last! + 1) % n
                    }
                    chosen.append(next)
                }
            }
        }
        var centroids = Matrix(zeros: clusters, d)
        for (c, i) in chosen.enumerated() {
            for j in 0 ..< d { centroids.values[c * d + j] = points.values[i * d + j] }
        }
        return centroids
    }
}
