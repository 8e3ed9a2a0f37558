/// Bytes that a reader takes by offset: a file on disk (`BinaryFile`), or a member of an
/// archive extracted into memory (`MemoryBytes`). The `.npy` parser reads through this, so a
/// `.npz` member is checked exactly as a `.npy` file is.
protocol ByteSource: AnyObject {
    /// What errors name: the file's path, or `archive.npz: member 'name.npy'`.
    var path: String { get }
    var size: Int { get }
    /// Reads exactly `count` bytes at `offset` into `buffer`.
    /// - Precondition: `offset + count <= size` (callers check the size first).
    func read(into buffer: UnsafeMutableRawBufferPointer, count: Int, at offset: Int) throws
}

extension ByteSource {
    /// Reads `count` bytes at `offset` into a new array.
    func bytes(count: Int, at offset: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        try out.withUnsafeMutableBytes { try read(into: $0, count: count, at: offset) }
        return out
    }

    /// Reads everything.
    func readAll() throws -> [UInt8] { try bytes(count: size, at: 0) }
}

/// Bytes held in memory (an extracted archive member), under the name errors give them.
final class MemoryBytes: ByteSource {
    let path: String
    let storage: [UInt8]
    var size: Int { storage.count }

    init(_ bytes: [UInt8], path: String) {
        self.storage = bytes
        self.path = path
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, count: Int, at offset: Int) throws {
        precondition(offset >= 0 && offset + count <= storage.count && count <= buffer.count)
        storage.withUnsafeBytes { source in
            buffer.baseAddress!.copyMemory(from: source.baseAddress! + offset, byteCount: count)
        }
    }
}
