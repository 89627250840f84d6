import CLockstat
import Glibc
import LockstatCore

/// The cgroup v2 hierarchy: where it is mounted (/proc/self/mountinfo's first `cgroup2` mount;
/// hybrid hosts mount it at /sys/fs/cgroup/unified beside the v1 controllers), so the waiting
/// task's cgroup id (bpf_get_current_cgroup_id) can be named by its path below that mount, the
/// form /proc/PID/cgroup's `0::` line has ("/" the root, "/system.slice/x.service").
enum CgroupHierarchy {
    /// The mount point of the first cgroup2 mount in `mountinfo`; nil when there is none.
    static func mountPoint(_ mountinfo: String) -> String? {
        for line in mountinfo.split(separator: "\n") {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count >= 7, let dash = fields.firstIndex(of: "-"), dash >= 6, dash + 1 < fields.count,
                fields[dash + 1] == "cgroup2"
            else { continue }
            return unescape(fields[4])
        }
        return nil
    }

    /// mountinfo writes space, tab, newline and backslash in paths as \040, \011, \012, \134.
    static func unescape(_ field: Substring) -> String {
        var bytes = [UInt8]()
        var utf8 = Array(field.utf8)[...]
        while let b = utf8.popFirst() {
            if b == UInt8(ascii: "\\"), utf8.count >= 3,
                let code = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8)
            {
                bytes.append(code)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The v2 mount of this system; nil when /proc/self/mountinfo names none.
    static func mountPoint(_ system: SystemRoot) -> String? {
        guard case .success(let text) = FileReader.readText(system.path("/proc/self/mountinfo")) else { return nil }
        return mountPoint(text)
    }

    /// This process's cgroup v2 path (/proc/self/cgroup's `0::` line); nil on a v1-only system.
    static var ownPath: String? {
        guard case .success(let text) = FileReader.readText("/proc/self/cgroup") else { return nil }
        return text.split(separator: "\n").first { $0.hasPrefix("0::") }.map { String($0.dropFirst(3)) }
    }

    /// What `lockstat doctor` and a run's warning say where there is no v2 mount.
    static let noMount = "no cgroup v2 mount in /proc/self/mountinfo: cgroups are shown by their ids"

    /// doctor's line: whether bpf mode can name cgroups here.
    static func check(_ system: SystemRoot) -> ProbeCheck {
        guard let mount = mountPoint(system) else {
            return ProbeCheck(
                name: "cgroups", ok: false, detail: noMount,
                fix: "mount -t cgroup2 none /sys/fs/cgroup (or /sys/fs/cgroup/unified beside v1 controllers)")
        }
        return ProbeCheck(
            name: "cgroups", ok: true, detail: "cgroup v2 at \(mount): bpf mode names each waiting task's cgroup")
    }

    /// contention.cgroup's paths with no directory below the v2 mount now (lstat: a symlink is no
    /// cgroup); without a mount, every path (only ids can match then).
    static func absent(_ filter: CgroupFilter, mountPoint: String?) -> [String] {
        filter.paths.filter { wanted in
            guard wanted.hasPrefix("/") else { return false }
            guard let mountPoint else { return true }
            var st = stat()
            return lstat(mountPoint + wanted, &st) != 0 || st.st_mode & S_IFMT != S_IFDIR
        }
    }

    /// A cgroup as the tables name it: its path, or its id where it was not resolved (no v2
    /// mount, or gone before lockstat first saw its waits).
    static func name(_ id: UInt64, paths: [UInt64: String]) -> String { paths[id] ?? String(id) }
}

/// Resolves cgroup ids through the v2 mount (the directory opened once, by its file handle
/// thereafter: no walk of the tree, no symlink followed).
final class CgroupResolver {
    let mountPoint: String
    private let descriptor: Int32
    /// The longest path kept (PATH_MAX); a longer one is shown by its id.
    static let maxPath = 4096

    init?(mountPoint: String) {
        let fd = open(mountPoint, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        self.mountPoint = mountPoint
        descriptor = fd
    }

    convenience init?(_ system: SystemRoot) {
        // A --proc-root replay has no live cgroups to resolve.
        guard !system.isReplay, let mount = CgroupHierarchy.mountPoint(system) else { return nil }
        self.init(mountPoint: mount)
    }

    deinit { close(descriptor) }

    /// The path of `id` into `out` (`capacity` bytes, no NUL kept); its length, or nil when the
    /// cgroup cannot be named (gone, outside this mount namespace's view). Allocates nothing.
    func path(_ id: UInt64, into out: UnsafeMutablePointer<CChar>, capacity: Int) -> Int? {
        let n = mountPoint.withCString { ls_cgroup_path(descriptor, $0, id, out, capacity) }
        return n >= 0 ? n : nil
    }

    func path(_ id: UInt64) -> String? {
        var buffer = [CChar](repeating: 0, count: Self.maxPath)
        guard path(id, into: &buffer, capacity: buffer.count) != nil else { return nil }
        return String(cString: buffer)
    }
}

/// contention.cgroup: the cgroups whose waits are kept, each with its descendants (a container's
/// cgroup keeps the cgroups below it); a path as the tables print it, or a cgroup id.
struct CgroupFilter: Equatable {
    var paths: [String] = []

    var isEmpty: Bool { paths.isEmpty }

    /// `path`: the cgroup's path, nil where it could not be named (then only its id matches).
    func keeps(id: UInt64, path: String?) -> Bool {
        paths.isEmpty
            || paths.contains { wanted in
                if String(id) == wanted { return true }
                guard let path else { return false }
                let prefix = wanted.hasSuffix("/") ? wanted : wanted + "/"
                return path == wanted || path.hasPrefix(prefix) || wanted == "/"
            }
    }
}

/// The raw log's record of a cgroup first seen: its id (8 bytes), then its path (UTF-8, no NUL;
/// empty when it could not be named). Written when the drain first sees the id, since a cgroup
/// can be gone by the run's end, so `lockstat parse` of a copied directory names it the same.
enum CgroupRecords {
    static let stream = RawLogStream.named(21)

    static func read(_ log: RawLog, damaged: inout Int) -> [UInt64: String] {
        var paths = [UInt64: String]()
        for r in log.sideRecords(stream: stream) {
            let b = log.payloadBytes(r)
            guard b.count >= 8 else {
                damaged += 1
                continue
            }
            let id = b.loadUnaligned(as: UInt64.self)
            if b.count > 8 { paths[id] = String(decoding: b[8...], as: UTF8.self) }
        }
        return paths
    }
}
