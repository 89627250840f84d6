import Foundation
import Glibc
import LockstatCore

/// Names of JIT-compiled code from the perf map a runtime writes for perf (`/tmp/perf-PID.map`,
/// `START SIZE name` a line, hex): HotSpot writes one at its exit with
/// `-XX:+UnlockDiagnosticVMOptions -XX:+DumpPerfMapAtExit`. Read as perf reads it, and only a file
/// the program's user (or root) wrote: anyone can create a file in /tmp, and a planted map would
/// put its names on the program's stacks.
struct JitPerfMaps {
    struct Symbol: Equatable {
        var start: UInt64, end: UInt64, name: String
    }

    /// A perf map larger than this is refused (HotSpot's are a few hundred KiB).
    static let maximumBytes = 64 << 20

    let directory: String
    /// Owners a map is read from: the user the program ran as, and root.
    let owners: Set<uid_t>
    private var maps: [UInt32: [Symbol]] = [:]
    /// Maps found and not read, by path: why.
    private(set) var refused: [String: String] = [:]

    init(directory: String = "/tmp", owners: Set<uid_t> = [0, InvokingUser.current.uid]) {
        self.directory = directory
        self.owners = owners
    }

    /// The name of the code at `address` in process `pid`'s perf map, if it has one that names it.
    mutating func name(pid: UInt32, address: UInt64) -> String? {
        if maps[pid] == nil {
            let path = "\(directory)/perf-\(pid).map"
            switch Self.read(path, owners: owners) {
            case .success(let symbols): maps[pid] = symbols
            case .failure(let why):
                maps[pid] = []
                if let why = why.refusal { refused[path] = why }
            }
        }
        let symbols = maps[pid]!
        // The last symbol starting at or below the address.
        var low = 0
        var high = symbols.count
        while low < high {
            let mid = (low + high) / 2
            if symbols[mid].start <= address { low = mid + 1 } else { high = mid }
        }
        guard low > 0, address < symbols[low - 1].end else { return nil }
        return symbols[low - 1].name
    }

    struct Unread: Error {
        /// nil: no such file (the runtime wrote none), which is no warning.
        var refusal: String?
    }

    /// The symbols of the map at `path`, sorted by address: opened without following a symbolic
    /// link, and only a regular file of one of `owners` that no group or other user may write.
    static func read(_ path: String, owners: Set<uid_t>) -> Result<[Symbol], Unread> {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            let why = e == ENOENT ? nil : e == ELOOP ? "a symbolic link" : String(cString: strerror(e))
            return .failure(Unread(refusal: why))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return .failure(Unread(refusal: String(cString: strerror(errno)))) }
        guard st.st_mode & S_IFMT == S_IFREG else { return .failure(Unread(refusal: "not a regular file")) }
        guard owners.contains(st.st_uid) else {
            return .failure(Unread(refusal: "owned by uid \(st.st_uid), not the program's user"))
        }
        guard st.st_mode & 0o022 == 0 else { return .failure(Unread(refusal: "group or others may write it")) }
        guard st.st_size <= maximumBytes else { return .failure(Unread(refusal: "larger than 64 MiB")) }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var count = 0
        while count < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { break }
            count += n
        }
        return .success(parse(String(decoding: bytes.prefix(count), as: UTF8.self)))
    }

    /// `START SIZE name` lines (hex, with or without 0x); other lines are skipped.
    static func parse(_ text: String) -> [Symbol] {
        func hex(_ s: Substring) -> UInt64? { UInt64(s.hasPrefix("0x") ? s.dropFirst(2) : s, radix: 16) }
        var symbols = [Symbol]()
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ", maxSplits: 2)
            guard f.count == 3, let start = hex(f[0]), let size = hex(f[1]), size > 0 else { continue }
            symbols.append(Symbol(start: start, end: start &+ size, name: String(f[2])))
        }
        return symbols.sorted { $0.start < $1.start }
    }
}
