extension IVFIndex {
    /// The lists without the vectors. After the magic `DMLIVF01`: version (u32 = 1), distance
    /// code (u32: 0 cosine, 1 ip, 2 l2), count (u64), dimension (u64), nlist (u32), k-means
    /// initialisation (u32: 0 random, 1 k-means++), iterations (u32), training points per
    /// list (u32), seed (u64), vector hash (u64); the centroids (nlist x dimension f32); each
    /// reference's list (count i32).
    public func serialized() -> [UInt8] {
        var w = ByteWriter()
        w.append("DMLIVF01")
        w.append(UInt32(1))
        w.append(distance.fileCode)
        w.append(UInt64(count))
        w.append(UInt64(dimension))
        w.append(UInt32(lists))
        w.append(UInt32(parameters.initialization == .random ? 0 : 1))
        w.append(UInt32(parameters.iterations))
        w.append(UInt32(parameters.trainingPerList))
        w.append(parameters.seed)
        w.append(vectorHash)
        centroids.values.withUnsafeBufferPointer { w.append(contentsOf: $0) }
        var assignment = [Int32](repeating: 0, count: count)
        for list in 0 ..< lists {
            for slot in offsets[list] ..< offsets[list + 1] { assignment[Int(ids[slot])] = Int32(list) }
        }
        assignment.withUnsafeBufferPointer { w.append(contentsOf: $0) }
        return w.bytes
    }

    /// Reads and checks the header after the magic, up to the vector hash.
    static func readHeader(_ r: inout ByteReader) throws
        -> (distance: Distance, count: Int, dimension: Int, parameters: IVFParameters, hash: UInt64) {
        let version = try r.integer(UInt32.self, what: "the IVF format version")
        guard version == 1 else { throw r.error("IVF format version 1", found: "version \(version)", at: r.offset - 4) }
        let code = try r.integer(UInt32.self, what: "the distance code")
        guard let distance = Distance(fileCode: code) else {
            throw r.error("distance code 0 (cosine), 1 (ip) or 2 (l2)", found: "\(code)", at: r.offset - 4)
        }
        let count = try r.integer(UInt64.self, what: "the reference count")
        let dimension = try r.integer(UInt64.self, what: "the dimension")
        let lists = try r.integer(UInt32.self, what: "nlist")
        let initialization = try r.integer(UInt32.self, what: "the k-means initialisation")
        let iterations = try r.integer(UInt32.self, what: "the k-means iterations")
        let perList = try r.integer(UInt32.self, what: "the training points per list")
        let seed = try r.integer(UInt64.self, what: "the seed")
        let hash = try r.integer(UInt64.self, what: "the vector hash")
        guard count > 0, count < 1 << 31, dimension < 1 << 24, lists >= 1, UInt64(lists) <= count, initialization <= 1 else {
            throw r.error("1 <= nlist <= count < 2^31, a dimension below 2^24 and an initialisation code 0 or 1",
                          found: "count \(count), dimension \(dimension), nlist \(lists), initialisation \(initialization)")
        }
        let parameters = IVFParameters(
            nlist: Int(lists), initialization: initialization == 0 ? .random : .kmeansPlusPlus,
            iterations: Int(iterations), trainingPerList: Int(perList), seed: seed)
        do { try parameters.validate(references: Int(count)) } catch { throw r.error("valid parameters", found: "\(error)") }
        return (distance, Int(count), Int(dimension), parameters, hash)
    }

    /// Reads lists written by `serialized` (after the magic) onto `vectors`.
    static func load(_ r: inout ByteReader, vectors: Matrix) throws -> IVFIndex {
        let (distance, count, dimension, parameters, hash) = try readHeader(&r)
        let lists = parameters.lists(for: count)
        try IndexFile.checkVectors(vectors, count: count, dimension: dimension, hash: hash, name: r.name)
        let centroidValues = try r.floats(count: lists * dimension, what: "the centroids")
        let assignmentStart = r.offset
        let assignment = try r.array(Int32.self, count: count, what: "the references' lists")
        try r.expectEnd()
        if let bad = assignment.firstIndex(where: { $0 < 0 || $0 >= Int32(lists) }) {
            throw r.error("list numbers in 0 ..< \(lists)", found: "\(assignment[bad])", at: assignmentStart + 4 * bad)
        }
        let prepared = try prepare(vectors, distance: distance)
        return IVFIndex(
            parameters: parameters, distance: distance, prepared: prepared,
            centroids: Matrix(rows: lists, columns: dimension, values: centroidValues),
            assignment: assignment, vectorHash: hash)
    }
}
