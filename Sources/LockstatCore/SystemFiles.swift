import Glibc
import SystemPackage

/// Where the kernel's files are: `/` normally, or a replay tree given by `--proc-root`
/// (every /proc and /sys path is looked up under it).
public struct SystemRoot: Sendable, Equatable {
    public let root: String

    public init(_ root: String = "/") {
        self.root = root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    /// A tree given by `--proc-root`: read-only, never the live machine.
    public var isReplay: Bool { !root.isEmpty }

    /// The real path of a kernel path such as `/proc/stat`.
    public func path(_ kernelPath: String) -> String { root + kernelPath }

    /// The CPU as /proc/cpuinfo's first `model name` line names it; "unknown" without one.
    public var cpuModel: String {
        guard case .success(let text) = FileReader.readText(path("/proc/cpuinfo")),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
            let value = line.split(separator: ":", maxSplits: 1).last
        else { return "unknown" }
        return String(value.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}

/// Reads files the way procfs needs: procfs reports size 0, so read(2) until EOF.
/// (Foundation's String(contentsOfFile:) stops after about 4 KB of a /proc file.)
public enum FileReader {
    public enum Failure: Error, Equatable {
        case missing, permissionDenied, notRegular, other(Int32)
        /// More bytes than the reader's limit (nothing past it is read).
        case tooLarge(limit: Int)

        public var reason: String {
            switch self {
            case .missing: return "no such file"
            case .permissionDenied: return "needs root (permission denied)"
            case .notRegular: return "not a regular file (refused: reading it could block)"
            case .tooLarge(let limit): return "larger than \(limit) bytes (refused)"
            // What O_NOFOLLOW says of a symlink.
            case .other(ELOOP): return "a symlink (refused: never followed)"
            case .other(let e): return SystemPackage.Errno(rawValue: e).description
            }
        }
    }

    public static func readAll(_ path: String, limit: Int = .max) -> Result<[UInt8], Failure> {
        switch openRegular(path) {
        case .failure(let f): return .failure(f)
        case .success(let fd):
            defer { close(fd) }
            return readAll(descriptor: fd, limit: limit)
        }
    }

    /// Opens a file to read, refusing anything but a regular file: a FIFO or device planted where
    /// a /proc or /sys file or a raw log is expected would block a read forever. (procfs and
    /// sysfs files are regular.) O_NONBLOCK keeps the open itself from waiting on a FIFO.
    public static func openRegular(_ path: String) -> Result<Int32, Failure> {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 { return .failure(failure(errno)) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            return .failure(.notRegular)
        }
        return .success(fd)
    }

    /// Reads an open file from its current offset to EOF; `.tooLarge` past `limit` bytes.
    public static func readAll(descriptor fd: Int32, limit: Int = .max) -> Result<[UInt8], Failure> {
        // Regular files say their size: read them straight into one buffer. procfs says 0.
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return .failure(.notRegular) }
        let sizeHint = st.st_size > 0 ? Int(st.st_size) : 0
        // One byte past the limit tells a file of exactly `limit` bytes from a larger one.
        var capacity = min(max(sizeHint + 1, 65536), limit == .max ? .max : limit + 1)
        var bytes = [UInt8]()
        while true {
            var failed: Int32 = 0
            var reachedEnd = false
            let old = bytes.count
            bytes = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
                if old > 0 { _ = UnsafeMutableRawBufferPointer(buffer).initializeMemory(as: UInt8.self, from: bytes) }
                count = old
                while count < capacity {
                    let n: Int
                    do {
                        n = try FileDescriptor(rawValue: fd).read(
                            into: UnsafeMutableRawBufferPointer(
                                rebasing: UnsafeMutableRawBufferPointer(buffer)[count...]))
                    } catch {
                        failed = (error as? SystemPackage.Errno)?.rawValue ?? EIO
                        return
                    }
                    if n == 0 {
                        reachedEnd = true
                        return
                    }
                    count += n
                }
            }
            if failed != 0 { return .failure(failure(failed)) }
            if reachedEnd { return .success(bytes) }
            if bytes.count > limit { return .failure(.tooLarge(limit: limit)) }
            capacity = min(capacity * 2, limit == .max ? .max : limit + 1)
        }
    }

    /// getcwd(3), or "." when it cannot be had.
    public static var currentDirectory: String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func readText(_ path: String, limit: Int = .max) -> Result<String, Failure> {
        readAll(path, limit: limit).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Whether the file can be opened for reading, and why not.
    public static func check(_ path: String) -> Failure? {
        switch openRegular(path) {
        case .failure(let f): return f
        case .success(let fd):
            close(fd)
            return nil
        }
    }

    public static func failure(_ err: Int32) -> Failure { Failure.from(err) }
}

extension FileReader.Failure {
    public static func from(_ err: Int32) -> FileReader.Failure {
        switch err {
        case ENOENT, ENOTDIR: return .missing
        case EACCES, EPERM: return .permissionDenied
        default: return .other(err)
        }
    }
}
