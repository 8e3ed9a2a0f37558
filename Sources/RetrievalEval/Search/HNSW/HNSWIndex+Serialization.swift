extension Distance {
    /// The distance's code in index files.
    var fileCode: UInt32 {
        switch self {
        case .cosine: 0
        case .innerProduct: 1
        case .squaredL2: 2
        }
    }

    init?(fileCode: UInt32) {
        switch fileCode {
        case 0: self = .cosine
        case 1: self = .innerProduct
        case 2: self = .squaredL2
        default: return nil
        }
    }
}

extension HNSWIndex {
    /// The graph without its vectors. After the magic `DMLHNSW1`: version (u32 = 1), distance
    /// code (u32: 0 cosine, 2 l2), count (u64), dimension (u64), M (u32), efConstruction
    /// (u32), seed (u64), vector hash (u64), entry point (i32), top level (u32); each node's
    /// level (count bytes); the level-0 lists (count x (1 + 2M) i32: the link count, then the
    /// links, unused slots 0); the upper lists, node by node and level by level (1 + M i32 each).
    public func serialized() -> [UInt8] {
        var w = ByteWriter()
        w.append("DMLHNSW1")
        w.append(UInt32(1))
        w.append(distance.fileCode)
        w.append(UInt64(count))
        w.append(UInt64(dimension))
        w.append(UInt32(parameters.m))
        w.append(UInt32(parameters.efConstruction))
        w.append(parameters.seed)
        w.append(vectorHash)
        w.append(entryPoint)
        w.append(UInt32(maxLevel))
        w.bytes += levels
        for node in 0 ..< count {
            w.append(contentsOf: UnsafeBufferPointer(start: list(Int32(node), 0), count: 1 + maxLinks0))
        }
        w.append(contentsOf: UnsafeBufferPointer(start: upper, count: upperWords))
        return w.bytes
    }

    /// Reads and checks the header after the magic, up to the vector hash.
    static func readHeader(_ r: inout ByteReader) throws
        -> (distance: Distance, count: Int, dimension: Int, parameters: HNSWParameters, hash: UInt64) {
        let version = try r.integer(UInt32.self, what: "the HNSW format version")
        guard version == 1 else { throw r.error("HNSW format version 1", found: "version \(version)", at: r.offset - 4) }
        let code = try r.integer(UInt32.self, what: "the distance code")
        guard let distance = Distance(fileCode: code), distance != .innerProduct else {
            throw r.error("distance code 0 (cosine) or 2 (l2)", found: "\(code)", at: r.offset - 4)
        }
        let count = try r.integer(UInt64.self, what: "the node count")
        let dimension = try r.integer(UInt64.self, what: "the dimension")
        let m = try r.integer(UInt32.self, what: "M")
        let efConstruction = try r.integer(UInt32.self, what: "efConstruction")
        let seed = try r.integer(UInt64.self, what: "the seed")
        let hash = try r.integer(UInt64.self, what: "the vector hash")
        let parameters = HNSWParameters(m: Int(m), efConstruction: Int(efConstruction), seed: seed)
        do { try parameters.validate() } catch { throw r.error("valid parameters", found: "\(error)") }
        guard count > 0, count < 1 << 31, dimension < 1 << 24 else {
            throw r.error("a count in 1 ..< 2^31 and a dimension below 2^24", found: "\(count) x \(dimension)")
        }
        return (distance, Int(count), Int(dimension), parameters, hash)
    }

    /// Reads a graph written by `serialized` (after its magic) onto `vectors`.
    static func load(_ r: inout ByteReader, vectors: Matrix) throws -> HNSWIndex {
        let (distance, count, dimension, parameters, hash) = try readHeader(&r)
        let m = parameters.m
        let entry = try r.integer(Int32.self, what: "the entry point")
        let top = try r.integer(UInt32.self, what: "the top level")
        try IndexFile.checkVectors(vectors, count: count, dimension: dimension, hash: hash, name: r.name)
        let levelsStart = r.offset
        let levels = try r.bytes(count, what: "\(count) node levels")
        guard entry >= 0, entry < Int32(count), UInt32(levels[Int(entry)]) == top else {
            throw r.error("an entry point on the top level \(top)", found: "node \(entry)", at: levelsStart)
        }
        guard levels.allSatisfy({ UInt32($0) <= top }) else {
            throw r.error("node levels at most the top level \(top)", found: "a level \(levels.max()!)", at: levelsStart)
        }
        // Sizes from the header and the levels, checked against the data before anything is
        // allocated: a damaged header must not make the loader reserve gigabytes.
        let words0 = 1 + 2 * m, words = 1 + m
        let upperWords = levels.reduce(0) { $0 + Int($1) } * words
        guard (r.bytes.count - r.offset) == 4 * (count * words0 + upperWords) else {
            throw r.error("\(4 * (count * words0 + upperWords)) bytes of lists for \(count) nodes of these levels with M \(m)",
                          found: "\(r.bytes.count - r.offset) bytes")
        }
        let listsStart = r.offset
        let level0 = try r.array(Int32.self, count: count * words0, what: "the level-0 lists")
        let upper = try r.array(Int32.self, count: upperWords, what: "the upper-level lists")
        try r.expectEnd()
        /// A list's count within capacity, its links within the nodes and, on level l, to nodes
        /// that reach level l.
        func check(_ list: ArraySlice<Int32>, capacity: Int, level: Int, at offset: Int) throws {
            let n = Int(list.first!)
            guard n >= 0 && n <= capacity else { throw r.error("a link count in 0...\(capacity)", found: "\(n)", at: offset) }
            for link in list.dropFirst().prefix(n) {
                guard link >= 0 && link < Int32(count) else {
                    throw r.error("links to nodes 0 ..< \(count)", found: "a link to \(link)", at: offset)
                }
                guard Int(levels[Int(link)]) >= level else {
                    throw r.error("links on level \(level) to nodes that reach it", found: "a link to node \(link) of level \(levels[Int(link)])", at: offset)
                }
            }
        }
        for node in 0 ..< count {
            try check(level0[node * words0 ..< (node + 1) * words0], capacity: 2 * m, level: 0,
                      at: listsStart + 4 * node * words0)
        }
        let upperStart = listsStart + 4 * level0.count
        var block = 0
        for node in 0 ..< count where levels[node] > 0 {
            for level in 1 ... Int(levels[node]) {
                try check(upper[block * words ..< (block + 1) * words], capacity: m, level: level,
                          at: upperStart + 4 * block * words)
                block += 1
            }
        }
        let prepared = try prepare(vectors, distance: distance)
        let index = HNSWIndex(vectors: prepared, distance: distance, parameters: parameters, levels: levels, vectorHash: hash)
        for node in 0 ..< count {
            let list = index.list(Int32(node), 0)
            for i in 0 ..< words0 { list[i] = level0[node * words0 + i] }
        }
        upper.withUnsafeBufferPointer { u in
            if let base = u.baseAddress { index.upper.update(from: base, count: u.count) }
        }
        index.entryPoint = entry
        index.maxLevel = Int(top)
        return index
    }
}
