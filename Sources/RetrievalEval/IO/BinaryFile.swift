#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A file opened for reading with positioned reads (`pread`), so a reader can check the
/// size first and never read past the end.
final class BinaryFile: ByteSource {
    let path: String
    let size: Int
    private let fd: Int32

    /// Opens `path` for reading.
    /// - Throws: `InputError.cannotOpen` when the file is missing, unreadable or a directory.
    init(path: String) throws {
        self.path = path
        // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
        let fd = open(path, O_RDONLY | O_NONBLOCK)
        if fd < 0 {
            let reason = String(cString: strerror(errno))
            throw InputError(
                .cannotOpen, file: path, expected: "a readable file", found: reason.lowercased(),
                remedy: "check the path and its permissions")
        }
        var st = stat()
        let kind = fstat(fd, &st) == 0 ? st.st_mode & S_IFMT : 0
        guard kind == S_IFREG else {
            close(fd)
            let found = switch kind {
            case S_IFDIR: "a directory"
            case S_IFIFO: "a FIFO (named pipe)"
            case S_IFSOCK: "a socket"
            case S_IFCHR, S_IFBLK: "a device"
            default: "something that is not a file"
            }
            throw InputError(
                .cannotOpen, file: path, expected: "a regular file", found: found,
                remedy: "give the path of the file itself (save a stream to a file first)")
        }
        self.fd = fd
        self.size = Int(st.st_size)
    }

    deinit { close(fd) }

    /// Reads exactly `count` bytes at `offset` into `buffer`.
    /// - Precondition: `offset + count <= size` (callers check the size first).
    func read(into buffer: UnsafeMutableRawBufferPointer, count: Int, at offset: Int) throws {
        precondition(offset + count <= size && count <= buffer.count)
        var done = 0
        while done < count {
            let n = pread(fd, buffer.baseAddress! + done, count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw InputError(
                    .cannotOpen, file: path, at: .byte(offset + done), expected: "readable bytes",
                    found: String(cString: strerror(errno)).lowercased(),
                    remedy: "check the disk and the file")
            }
            if n == 0 {
                throw InputError(
                    .wrongSize, file: path, at: .byte(offset + done),
                    expected: "\(count - done) more bytes", found: "the end of the file",
                    remedy: "the file shrank while being read; read it again")
            }
            done += n
        }
    }

}

/// Reads a little-endian unsigned 32-bit integer from `bytes` at `offset`.
@inline(__always)
func littleEndianUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8
        | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
}

/// The product of `factors`, or nil when it overflows `Int`. Headers are untrusted: a corrupt
/// one can claim any shape, and its byte count must then be rejected rather than trap.
func checkedProduct(_ factors: Int...) -> Int? { checkedProduct(factors) }

func checkedProduct(_ factors: [Int]) -> Int? {
    var product = 1
    for factor in factors {
        let (p, overflow) = product.multipliedReportingOverflow(by: factor)
        if overflow { return nil }
        product = p
    }
    return product
}
