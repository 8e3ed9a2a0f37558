#if canImport(CryptoKit)
import CryptoKit
#else
import CCrypto
#endif

/// SHA-256 (FIPS 180-4), used to content-address datasets: the same embeddings and labels
/// hash the same whatever file format or path they came from.
///
/// A maintained implementation does the work: OpenSSL's libcrypto on Linux (Debian
/// `libssl-dev`; it uses the CPU's SHA extensions where there are any, over 1 GB/s here),
/// CryptoKit on Apple platforms. Checked against the FIPS 180-4 example vectors in the tests.
public struct SHA256 {
    #if canImport(CryptoKit)
    private var hasher = CryptoKit.SHA256()
    #else
    /// The OpenSSL context, owned by one hasher (a copy of the struct shares it).
    private final class Context {
        let pointer: OpaquePointer
        init() {
            pointer = EVP_MD_CTX_new()
            EVP_DigestInit_ex(pointer, EVP_sha256(), nil)
        }
        deinit { EVP_MD_CTX_free(pointer) }
    }
    private let context = Context()
    #endif

    /// A hasher that has read nothing yet.
    public init() {}

    /// Feeds `bytes` into the hash.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        #if canImport(CryptoKit)
        hasher.update(bufferPointer: bytes)
        #else
        EVP_DigestUpdate(context.pointer, bytes.baseAddress, bytes.count)
        #endif
    }

    /// Hashes `bytes` next.
    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// Hashes the UTF-8 bytes of `text` next.
    public mutating func update(_ text: String) { update(Array(text.utf8)) }

    /// The digest as 64 lowercase hex digits. The hasher is spent afterwards.
    public mutating func finalizeHex() -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        #if canImport(CryptoKit)
        digest = Array(hasher.finalize())
        #else
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context.pointer, &digest, &length)
        #endif
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The hex digest of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String {
        var h = SHA256()
        h.update(bytes)
        return h.finalizeHex()
    }
}

extension SHA256 {
    /// A hasher primed with the shape of `rows` x `columns` embeddings: fed their float32
    /// values in row order, it gives their content hash (`Matrix.contentHash()`).
    static func embeddings(rows: Int, columns: Int) -> SHA256 {
        var hasher = SHA256()
        hasher.update("dmleval embeddings float32 \(rows)x\(columns)\n")
        return hasher
    }
}

extension Matrix {
    /// SHA-256 of the shape and values: the embeddings' identity in the store, whatever file
    /// or format they came from.
    public func contentHash() -> String {
        var hasher = SHA256.embeddings(rows: rows, columns: columns)
        values.withUnsafeBytes { hasher.update($0) }
        return hasher.finalizeHex()
    }
}
