import Foundation
import ZIPFoundation

/// A NumPy `.npz` archive: a zip file of `.npy` members, as `numpy.savez` (stored) and
/// `numpy.savez_compressed` (deflated) write them. Members are named `NAME.npy`; an array is
/// chosen by NAME (with or without `.npy`).
///
/// A chosen member is extracted into memory and read by the `.npy` reader, so it is checked
/// exactly as a `.npy` file is; its errors name the archive and the member, and their byte
/// offsets count from the start of the member.
struct NpzArchive {
    let path: String
    /// The members' names, as stored (`emb.npy`), in archive order.
    let names: [String]
    private let archive: Archive
    private let entries: [String: Entry]

    /// Opens the archive at `path` and lists its members.
    /// - Throws: `InputError` when the file is missing, not a regular file, or not a zip archive.
    init(path: String) throws {
        self.path = path
        // Refuses directories, FIFOs and devices before the zip library opens anything.
        let file = try BinaryFile(path: path)
        guard file.size >= 22 else {
            throw InputError(
                .badHeader, file: path, at: .byte(0), expected: "a .npz (zip) archive of at least 22 bytes",
                found: "a file of \(file.size) bytes", remedy: "the file is truncated or not a .npz file; save it again with numpy.savez")
        }
        let magic = try file.bytes(count: 4, at: 0)
        guard magic == [0x50, 0x4B, 0x03, 0x04] || magic == [0x50, 0x4B, 0x05, 0x06] else {
            throw InputError(
                .badHeader, file: path, at: .byte(0), expected: "a zip archive (magic PK\\x03\\x04), as numpy.savez writes",
                found: "bytes \(magic.map { String($0, radix: 16) }.joined(separator: " "))",
                remedy: "this is not a .npz file; pass --input-format to read it as another format")
        }
        do {
            archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
        } catch {
            throw InputError(
                .badHeader, file: path, expected: "a readable zip archive (its central directory at the end of the file)",
                found: "a damaged archive (\(error))", remedy: "the file is truncated or damaged; save it again with numpy.savez")
        }
        var names: [String] = []
        var entries: [String: Entry] = [:]
        for entry in archive where entry.type == .file {
            names.append(entry.path)
            entries[entry.path] = entry
        }
        guard !names.isEmpty else {
            throw InputError(
                .badShape, file: path, expected: "at least one array in the archive", found: "no members",
                remedy: "save the arrays with numpy.savez(path, emb=x)")
        }
        self.names = names
        self.entries = entries
    }

    /// The array names, as numpy's `np.load(path).files` lists them (without `.npy`).
    var arrayNames: [String] { names.map { $0.hasSuffix(".npy") ? String($0.dropLast(4)) : $0 } }

    /// The member that `name` names, or the only one other than `excluding` when `name` is nil.
    /// - Parameter flag: the option that names it, for the error message.
    func member(_ name: String?, excluding: String? = nil, flag: String) throws -> String {
        let listed = arrayNames.map { "'\($0)'" }.joined(separator: ", ")
        if let name {
            for candidate in [name, name + ".npy"] where entries[candidate] != nil { return candidate }
            throw InputError(
                .badShape, file: path, expected: "an array named '\(name)' (\(flag))", found: "the arrays \(listed)",
                remedy: "pass \(flag) with one of these names")
        }
        let excluded = excluding.map { [$0, $0 + ".npy"] } ?? []
        let candidates = names.filter { !excluded.contains($0) }
        guard candidates.count == 1 else {
            throw InputError(
                .badShape, file: path, expected: "one array, or \(flag) NAME to choose one",
                found: "\(candidates.count) arrays (\(listed))", remedy: "pass \(flag) NAME")
        }
        return candidates[0]
    }

    /// The largest member extracted: far beyond any embedding file that fits in memory, yet
    /// a damaged size field cannot make dmleval reserve more.
    static let maximumMemberBytes = 1 << 40

    /// The member's bytes, extracted (and inflated, for `savez_compressed`), CRC-checked.
    func extract(_ member: String) throws -> MemoryBytes {
        let label = "\(path): member '\(member)'"
        guard let entry = entries[member] else { preconditionFailure("member() returns listed names only") }
        let claimed = Int(clamping: entry.uncompressedSize)
        guard claimed <= Self.maximumMemberBytes else {
            throw InputError(.wrongSize, file: label, expected: "a member of at most 1 TiB", found: "\(claimed) bytes",
                             remedy: "the archive is damaged; save it again")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(min(claimed, 1 << 30))
        do {
            _ = try archive.extract(entry, bufferSize: 1 << 20) { chunk in
                bytes.append(contentsOf: chunk)
                if bytes.count > claimed {
                    throw InputError(.wrongSize, file: label, at: .byte(claimed), expected: "\(claimed) bytes, as the archive's directory says",
                                     found: "more", remedy: "the archive is damaged; save it again")
                }
            }
        } catch let error as InputError {
            throw error
        } catch {
            throw InputError(
                .badHeader, file: label, at: .byte(bytes.count), expected: "a readable member (stored or deflated, matching its CRC-32)",
                found: "\(error)", remedy: "the archive is truncated or damaged; save it again with numpy.savez")
        }
        guard bytes.count == claimed else {
            throw InputError(.wrongSize, file: label, at: .byte(bytes.count), expected: "\(claimed) bytes, as the archive's directory says",
                             found: "\(bytes.count)", remedy: "the archive is truncated or damaged; save it again")
        }
        return MemoryBytes(bytes, path: label)
    }

    /// Checks that a member holds a `.npy` array before it is parsed as one.
    static func checkIsArray(_ source: MemoryBytes) throws {
        guard source.size >= 6, Array(source.storage[0 ..< 6]) == NpyHeader.magic else {
            let shown = source.storage.prefix(6).map { b in (32 ..< 127).contains(b) ? String(UnicodeScalar(b)) : "\\x" + String(b, radix: 16) }.joined()
            throw InputError(
                .badHeader, file: source.path, at: .byte(0), expected: "a .npy array (magic \\x93NUMPY)",
                found: source.size == 0 ? "an empty member" : "\"\(shown)\"",
                remedy: "this member is not an array; choose another with --array (or --labels-array)")
        }
    }
}
