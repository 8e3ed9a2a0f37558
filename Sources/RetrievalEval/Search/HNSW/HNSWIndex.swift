import CKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A hierarchical navigable small-world graph over a set of vectors (Malkov & Yashunin 2018,
/// "Efficient and robust approximate nearest neighbor search using Hierarchical Navigable
/// Small World graphs", IEEE TPAMI).
///
/// Layout: level 0 holds, for every node, its link count, up to 2M neighbour indices and its
/// vector in one contiguous record (the links padded to a cache line, so each vector starts on
/// one), so a search reads a node's links and its neighbours' vectors from one buffer. The few
/// nodes on upper levels (a fraction 1/M per level) keep their lists of up to M links in a
/// second buffer. Distances (lower is closer: minus the inner product for cosine, the squared
/// L2 distance for l2) use the widest vector unit of the machine (see CKernels); lists
/// returned to callers are re-scored with the exact search's canonical kernel, so an index
/// and the exact search report identical scores for the same pair.
///
/// Building: nodes are inserted in index order, each at a level drawn in advance from the
/// seed; `threads` workers insert concurrently, each list guarded by a one-byte lock. With one
/// thread the graph depends only on the data, the parameters and the seed.
public final class HNSWIndex: @unchecked Sendable {
    /// The build parameters.
    public let parameters: HNSWParameters
    /// The similarity the graph was built for.
    public let distance: Distance
    /// Number of indexed vectors.
    public let count: Int
    /// The dimension of the vectors.
    public let dimension: Int
    /// A hash of the vectors as given (before normalisation): a saved graph only loads onto
    /// the same vectors.
    public let vectorHash: UInt64

    let maxLinks0: Int
    /// Bytes from a level-0 record's start to its vector; and the record's size.
    let vectorOffset: Int
    let recordSize: Int
    let level0: UnsafeMutableRawPointer
    /// Each node's top level.
    var levels: [UInt8]
    /// Where a node's level-1 list starts in `upper` (in Int32 words), or -1.
    var upperOffsets: [Int]
    /// Lists of the upper levels: per node and level, a count and M indices.
    let upper: UnsafeMutablePointer<Int32>
    let upperWords: Int
    let locks: UnsafeMutablePointer<UInt8>
    var entryPoint: Int32 = 0
    var maxLevel = 0
    /// Guards the entry point and the top level while building.
    private let entryLock = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
    let isL2: Bool

    /// An empty graph for `vectors` (already normalised for cosine), with the levels drawn.
    init(vectors: Matrix, distance: Distance, parameters: HNSWParameters, levels: [UInt8], vectorHash: UInt64) {
        self.parameters = parameters
        self.distance = distance
        self.count = vectors.rows
        self.dimension = vectors.columns
        self.vectorHash = vectorHash
        self.isL2 = distance == .squaredL2
        maxLinks0 = 2 * parameters.m
        vectorOffset = (4 * (1 + maxLinks0) + 63) / 64 * 64
        recordSize = vectorOffset + (4 * vectors.columns + 63) / 64 * 64
        level0 = UnsafeMutableRawPointer.allocate(byteCount: max(1, count * recordSize), alignment: 64)
        self.levels = levels
        var offsets = [Int](repeating: -1, count: count)
        var words = 0
        for i in 0 ..< count where levels[i] > 0 {
            offsets[i] = words
            words += Int(levels[i]) * (1 + parameters.m)
        }
        upperOffsets = offsets
        upperWords = words
        upper = UnsafeMutablePointer<Int32>.allocate(capacity: max(1, words))
        upper.initialize(repeating: 0, count: max(1, words))
        locks = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, count))
        locks.initialize(repeating: 0, count: max(1, count))
        entryLock.initialize(to: 0)
        let linkWords = vectorOffset / 4, vectorWords = (recordSize - vectorOffset) / 4
        vectors.values.withUnsafeBufferPointer { v in
            for i in 0 ..< count {
                let record = level0 + i * recordSize
                record.bindMemory(to: Int32.self, capacity: linkWords).initialize(repeating: 0, count: linkWords)
                let vector = (record + vectorOffset).bindMemory(to: Float.self, capacity: vectorWords)
                vector.initialize(repeating: 0, count: vectorWords)
                vector.update(from: v.baseAddress! + i * dimension, count: dimension)
            }
        }
    }

    deinit {
        level0.deallocate()
        upper.deallocate()
        locks.deallocate()
        entryLock.deallocate()
    }

    /// The index's memory: graph, vectors and bookkeeping, in bytes.
    public var memoryBytes: Int {
        count * recordSize + upperWords * 4 + count * (1 + 1 + MemoryLayout<Int>.stride)
    }

    // MARK: - Access

    @inline(__always)
    func vector(_ node: Int32) -> UnsafePointer<Float> {
        UnsafePointer((level0 + Int(node) * recordSize + vectorOffset).assumingMemoryBound(to: Float.self))
    }

    /// The list of `node` at `level`: a count, then the indices.
    @inline(__always)
    func list(_ node: Int32, _ level: Int) -> UnsafeMutablePointer<Int32> {
        if level == 0 { return (level0 + Int(node) * recordSize).assumingMemoryBound(to: Int32.self) }
        return upper + upperOffsets[Int(node)] + (level - 1) * (1 + parameters.m)
    }

    /// The distance between two vectors, lower is closer.
    @inline(__always)
    func distance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> Float {
        isL2 ? dmle_l2sq(a, b, dimension) : -dmle_dot(a, b, dimension)
    }

    // MARK: - Building

    /// Builds the graph of `vectors`.
    ///
    /// - Parameters:
    ///   - threads: insertion workers; 1 gives a graph that is a function of the inputs.
    /// - Throws: `SearchError` for bad parameters, an empty set, raw inner product (graphs
    ///   lose recall on unnormalised inner products: use cosine, or l2), or a zero row with
    ///   cosine.
    public static func build(
        _ vectors: Matrix, distance: Distance, parameters: HNSWParameters = HNSWParameters(),
        threads: Int = ExactSearch.defaultThreads, progress: SearchProgress? = nil
    ) throws -> HNSWIndex {
        try parameters.validate()
        guard vectors.rows > 0 else { throw SearchError("an HNSW index needs at least one vector, found none") }
        guard vectors.rows < 1 << 31 else { throw SearchError("an HNSW index holds fewer than 2^31 vectors, found \(vectors.rows)") }
        let prepared = try prepare(vectors, distance: distance)
        var rng = SplitMix64(seed: parameters.seed)
        let multiplier = parameters.levelMultiplier
        let levels = (0 ..< vectors.rows).map { _ -> UInt8 in
            let u = 1 - rng.nextUnit()  // (0, 1]
            return UInt8(min(Int(-log(u) * multiplier), 32))
        }
        let index = HNSWIndex(
            vectors: prepared, distance: distance, parameters: parameters, levels: levels,
            vectorHash: vectorHash(vectors))
        index.insertAll(threads: max(1, threads), progress: progress)
        return index
    }

    /// The vectors as the graph holds them (normalised for cosine).
    /// - Throws: for raw inner product, and for zero rows with cosine.
    static func prepare(_ vectors: Matrix, distance: Distance) throws -> Matrix {
        switch distance {
        case .innerProduct:
            throw SearchError("an HNSW graph needs cosine or l2: on raw inner products of unnormalised vectors its greedy search loses recall; use --distance cosine (inner product of normalised rows), l2, or --index ivf or exact")
        case .squaredL2:
            return vectors
        case .cosine:
            return try vectors.unitRows(rowName: "row", alternatives: "l2")
        }
    }

    private func insertAll(threads: Int, progress: SearchProgress?) {
        guard count > 0 else { return }
        entryPoint = 0
        maxLevel = Int(levels[0])
        guard count > 1 else { progress?(1); return }
        let next = Atomic<Int>(1)
        let workers = min(threads, count - 1)
        parallelFor(workers: workers) { w in
            let scratch = HNSWScratch(count: count, capacity: min(parameters.efConstruction, count))
            while true {
                let node = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if node >= count { break }
                insert(Int32(node), scratch: scratch, locking: workers > 1)
                if w == 0, node % 1024 == 0 { progress?(Double(node) / Double(count)) }
            }
        }
        connectUnreachable()
        progress?(1)
    }

    /// Makes every node reachable on level 0 from the entry point.
    ///
    /// Pruning a full list with the heuristic drops a candidate that is closer to one already
    /// kept than to the list's owner. When two exact duplicates are inserted at the same moment
    /// by two threads, neither links to the other, and every list that holds both keeps only
    /// one: the other, and whatever only it leads to, drop out of the graph. On the Debian
    /// embeddings (815 duplicated rows) a 2-thread build left 230 nodes unreachable, and
    /// recall@10 stalled at 0.977 however large efSearch was. This pass walks level 0 from the
    /// entry point, keeping the link that first reached each node (a spanning tree). Each node
    /// not reached is searched for in the graph and linked from the nearest reached node found,
    /// into a free slot or in place of that node's farthest link that is not a tree link (so
    /// nothing reached is lost); what it leads to is then reached too. Deterministic; a
    /// one-thread build is normally connected already and left as it is.
    func connectUnreachable() {
        guard count > 1 else { return }
        let scratch = HNSWScratch(count: count, capacity: 64)
        // parent[v]: the node whose link first reached v (-1: not reached). The first links form
        // a spanning tree of what is reached, so any other link can give way without losing a node.
        var parent = [Int32](repeating: -1, count: count)
        var queue: [Int32] = []
        func reach(from start: Int32, parent p: Int32) {
            parent[Int(start)] = p
            queue.removeAll(keepingCapacity: true)
            queue.append(start)
            var head = 0
            while head < queue.count {
                let node = queue[head]
                let links = list(node, 0)
                head += 1
                for i in 0 ..< Int(links[0]) where parent[Int(links[1 + i])] < 0 {
                    parent[Int(links[1 + i])] = node
                    queue.append(links[1 + i])
                }
            }
        }
        reach(from: entryPoint, parent: entryPoint)
        for node in 0 ..< count where parent[node] < 0 {
            let lost = Int32(node)
            // Link it from the nearest reached node the search finds (reached by construction
            // when the walk starts on the reached part), else from any reached node by distance.
            searchGraph(vector(lost), ef: 64, scratch: scratch)
            var linkedFrom = link(lost, fromAnyOf: scratch.sorted.map(RankedKey.index).filter { parent[Int($0)] >= 0 }, parent: parent)
            if linkedFrom == nil {
                let all = (0 ..< Int32(count)).filter { parent[Int($0)] >= 0 }
                    .map { RankedKey.make(distance(vector(lost), vector($0)), $0) }.sorted().map(RankedKey.index)
                linkedFrom = link(lost, fromAnyOf: all, parent: parent)
            }
            if let linkedFrom { reach(from: lost, parent: linkedFrom) }
        }
    }

    /// Links `lost` from the first of `targets` (reached nodes) with a free slot, or with a link
    /// that is not a spanning-tree link (the farthest such link gives way).
    /// - Returns: the node it is linked from, or nil.
    private func link(_ lost: Int32, fromAnyOf targets: [Int32], parent: [Int32]) -> Int32? {
        for target in targets {
            let links = list(target, 0)
            let n = Int(links[0])
            if n < maxLinks0 {
                links[1 + n] = lost
                links[0] = Int32(n + 1)
                return target
            }
            var farthest = -1
            var farthestKey: UInt64 = 0
            for i in 0 ..< n where parent[Int(links[1 + i])] != target {
                let key = RankedKey.make(distance(vector(target), vector(links[1 + i])), links[1 + i])
                if farthest < 0 || key > farthestKey { farthest = i; farthestKey = key }
            }
            if farthest >= 0 {
                links[1 + farthest] = lost
                return target
            }
        }
        return nil
    }

    /// Inserts `node` (its vector and level are in place; it is not yet linked).
    private func insert(_ node: Int32, scratch: HNSWScratch, locking: Bool) {
        let level = Int(levels[Int(node)])
        // A node above the top level becomes the entry point: it is linked while the entry
        // lock is held, so no one starts from a half-linked entry.
        let start: (top: Int, entry: Int32)? = ByteLock.with(entryLock, if: locking) {
            let top = maxLevel, entry = entryPoint
            guard level > top else { return (top, entry) }
            link(node, level: level, top: top, entry: entry, scratch: scratch, locking: locking)
            entryPoint = node
            maxLevel = level
            return nil
        }
        if let start {
            link(node, level: level, top: start.top, entry: start.entry, scratch: scratch, locking: locking)
        }
    }

    /// Links `node`, at `level`, into the graph whose top level is `top`, descending from
    /// `entry`.
    private func link(_ node: Int32, level: Int, top: Int, entry: Int32, scratch: HNSWScratch, locking: Bool) {
        let query = vector(node)
        var current = entry
        var currentDistance = distance(query, vector(current))
        if level < top {
            for l in stride(from: top, to: level, by: -1) {
                (current, currentDistance) = greedyClosest(query, from: current, at: currentDistance, level: l, locking: locking)
            }
        }
        for l in stride(from: min(level, top), through: 0, by: -1) {
            searchLayer(query, entries: [RankedKey.make(currentDistance, current)], ef: parameters.efConstruction,
                        level: l, locking: locking, scratch: scratch)
            scratch.sortResults()
            let best = scratch.sorted[0]
            current = RankedKey.index(best)
            currentDistance = RankedKey.distance(best)
            select(from: scratch.sorted, limit: parameters.m, into: &scratch.selected)
            connect(node, to: scratch.selected, level: l, locking: locking, scratch: scratch)
        }
    }

    /// Runs `body` holding `node`'s list lock when `locking`.
    @inline(__always)
    private func withLock<R>(_ node: Int32, if locking: Bool, _ body: () -> R) -> R {
        ByteLock.with(locks + Int(node), if: locking, body)
    }

    /// Walks level `level` from `start` to a local minimum of the distance to `query`.
    func greedyClosest(
        _ query: UnsafePointer<Float>, from start: Int32, at startDistance: Float, level: Int, locking: Bool
    ) -> (Int32, Float) {
        var current = start, best = startDistance
        var changed = true
        while changed {
            changed = false
            let examined = current
            withLock(examined, if: locking) {
                let links = list(examined, level)
                let n = Int(links[0])
                var i = 1
                while i <= n {
                    let candidate = links[i]
                    let d = distance(query, vector(candidate))
                    if d < best || (d == best && candidate < current) {
                        best = d
                        current = candidate
                        changed = true
                    }
                    i += 1
                }
            }
        }
        return (current, best)
    }

    /// The best-first search of one level (the paper's SEARCH-LAYER): leaves the `ef`
    /// closest nodes found in `scratch.results`, as a max-heap (complemented keys).
    func searchLayer(
        _ query: UnsafePointer<Float>, entries: [UInt64], ef: Int, level: Int, locking: Bool, scratch: HNSWScratch
    ) {
        // Work on locals (moved out of the scratch object and back, no copy): class
        // properties would pay a dynamic exclusivity check on every access.
        var visited = VisitedSet(), candidates = KeyHeap(), results = KeyHeap()
        swap(&visited, &scratch.visited)
        swap(&candidates, &scratch.candidates)
        swap(&results, &scratch.results)
        defer {
            swap(&visited, &scratch.visited)
            swap(&candidates, &scratch.candidates)
            swap(&results, &scratch.results)
        }
        visited.reset()
        candidates.removeAll()
        results.removeAll()
        for key in entries {
            _ = visited.insert(RankedKey.index(key))
            candidates.push(key)
            results.push(~key)
        }
        let vectorBytes = recordSize - vectorOffset
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: maxLinks0 + 1) { fresh in
            while !candidates.isEmpty {
                let closest = candidates.pop()
                // The closest candidate is farther than the worst result: nothing left can improve.
                if results.count >= ef && closest > ~results.top { break }
                let node = RankedKey.index(closest)
                // First the neighbours not seen yet, every one's whole vector requested at once so
                // the memory system fetches them in parallel (30% more queries per second than
                // prefetching one neighbour ahead, or only each vector's first lines); then their
                // distances.
                let unseen = withLock(node, if: locking) {
                    let links = list(node, level)
                    let n = Int(links[0])
                    var unseen = 0
                    var i = 1
                    while i <= n {
                        let neighbour = links[i]
                        i += 1
                        guard visited.insert(neighbour) else { continue }
                        dmle_prefetch(vector(neighbour), vectorBytes)
                        fresh[unseen] = neighbour
                        unseen += 1
                    }
                    return unseen
                }
                for j in 0 ..< unseen {
                    let neighbour = fresh[j]
                    let key = RankedKey.make(distance(query, vector(neighbour)), neighbour)
                    if results.count < ef || key < ~results.top {
                        candidates.push(key)
                        results.push(~key)
                        if results.count > ef { results.pop() }
                    }
                }
            }
        }
    }

    /// The paper's neighbour-selection heuristic (SELECT-NEIGHBORS-HEURISTIC, without
    /// extending or keeping pruned candidates): going from the closest candidate outwards, keep
    /// one only if it is closer to the base than to every one kept so far, so the links spread
    /// in different directions instead of crowding into one cluster.
    ///
    /// - Parameter candidates: keys of distances to the base, in increasing order.
    func select(from candidates: [UInt64], limit: Int, into selected: inout [Int32]) {
        selected.removeAll(keepingCapacity: true)
        if candidates.count <= limit {
            // Too few to be choosy (hnswlib does the same): keep them all.
            for key in candidates { selected.append(RankedKey.index(key)) }
            return
        }
        for key in candidates {
            if selected.count == limit { break }
            let candidate = RankedKey.index(key)
            let toBase = RankedKey.distance(key)
            let v = vector(candidate)
            var keep = true
            for chosen in selected where distance(v, vector(chosen)) < toBase {
                keep = false
                break
            }
            if keep { selected.append(candidate) }
        }
    }

    /// Links `node` to `neighbours` at `level`, and each of them back to `node`, pruning a
    /// full list with the heuristic.
    private func connect(_ node: Int32, to neighbours: [Int32], level: Int, locking: Bool, scratch: HNSWScratch) {
        let capacity = level == 0 ? maxLinks0 : parameters.m
        withLock(node, if: locking) {
            let own = list(node, level)
            // With several threads, a node already linked on a higher level can be found there
            // and given back-links on this level before it gets here: keep those after its own
            // choice, as room allows, rather than overwrite them. (One thread never has any.)
            let earlier = (0 ..< Int(own[0])).map { own[1 + $0] }.filter { !neighbours.contains($0) }
            let kept = neighbours + earlier.prefix(max(0, capacity - neighbours.count))
            own[0] = Int32(kept.count)
            for (i, n) in kept.enumerated() { own[1 + i] = n }
        }

        for neighbour in neighbours {
            withLock(neighbour, if: locking) {
                let links = list(neighbour, level)
                let n = Int(links[0])
                if n < capacity {
                    links[1 + n] = node
                    links[0] = Int32(n + 1)
                } else {
                    // Full: choose the best `capacity` among the old links and the new node.
                    let base = vector(neighbour)
                    var keys: [UInt64] = []
                    swap(&keys, &scratch.pruneKeys)
                    keys.removeAll(keepingCapacity: true)
                    keys.append(RankedKey.make(distance(base, vector(node)), node))
                    for i in 1 ... n { keys.append(RankedKey.make(distance(base, vector(links[i])), links[i])) }
                    keys.sort()
                    select(from: keys, limit: capacity, into: &scratch.pruned)
                    links[0] = Int32(scratch.pruned.count)
                    for (i, kept) in scratch.pruned.enumerated() { links[1 + i] = kept }
                    swap(&keys, &scratch.pruneKeys)
                }
            }
        }
    }
}

/// One worker's reusable search state.
final class HNSWScratch {
    var visited: VisitedSet
    var candidates: KeyHeap
    /// The best found so far, as a max-heap of complemented keys.
    var results: KeyHeap
    /// `results` in increasing order of distance, after `sortResults`.
    var sorted: [UInt64] = []
    var selected: [Int32] = []
    var pruned: [Int32] = []
    var pruneKeys: [UInt64] = []

    init(count: Int, capacity: Int) {
        visited = VisitedSet(count: count)
        candidates = KeyHeap(capacity: 4 * capacity)
        results = KeyHeap(capacity: capacity + 1)
    }

    /// Empties `results` into `sorted`, closest first.
    func sortResults() {
        var heap = KeyHeap(), out: [UInt64] = []
        swap(&heap, &results)
        swap(&out, &sorted)
        out.removeAll(keepingCapacity: true)
        while !heap.isEmpty { out.append(~heap.pop()) }
        out.reverse()
        swap(&heap, &results)
        swap(&out, &sorted)
    }
}

extension HNSWIndex {
    /// FNV-1a over the vectors' 32-bit words (and the shape): ties a saved graph to its vectors.
    static func vectorHash(_ vectors: Matrix) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        let prime: UInt64 = 0x100_0000_01B3
        for x in [UInt64(vectors.rows), UInt64(vectors.columns)] { h = (h ^ x) &* prime }
        vectors.values.withUnsafeBufferPointer { v in
            for x in v { h = (h ^ UInt64(x.bitPattern)) &* prime }
        }
        return h
    }
}
