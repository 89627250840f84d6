import Glibc

/// The test directory of one run: `lockstat.config`, `cmd`, `output`, `samples/`, `samples.pickle`,
/// `samples.json` and the graphs. `.lockstat-files` lists what the run wrote, so the next run in
/// the same directory replaces exactly those files and nothing else.
public final class TestDirectory {
    public let path: String
    private var lockDescriptor: Int32 = -1
    static let manifestName = ".lockstat-files"
    static let lockName = ".lockstat.lock"
    /// Files every run writes, whether or not the manifest survived.
    static let runFiles = ["lockstat.config", "cmd", "output", "samples.pickle", "samples.json"]

    public init(_ path: String) { self.path = path }

    deinit { if lockDescriptor >= 0 { close(lockDescriptor) } }

    public func file(_ name: String) -> String { path + "/" + name }
    public var samplesDirectory: String { file("samples") }
    public func rawLog(_ module: String) -> String { samplesDirectory + "/" + module + ".log" }

    /// Creates the directory (parents too), takes the run lock, and removes the previous run's files.
    public func prepareForRun() throws {
        try makeDirectories(path)
        try lock()
        for name in Self.runFiles + recordedFiles() { unlink(file(name)) }
        try removeTree(samplesDirectory)
        try makeDirectories(samplesDirectory)
        try writeManifest([])
    }

    /// Takes the lock that says a lockstat is writing this directory; refuses when another holds it.
    public func lock() throws {
        var st = stat()
        guard stat(path, &st) == 0 else { throw LockstatError("\(path): no such directory") }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw LockstatError("\(path): not a directory") }
        guard access(path, W_OK | X_OK) == 0 else { throw LockstatError("\(path): directory not writable") }
        let fd = open(file(Self.lockName), O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LockstatError("\(file(Self.lockName)): \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            throw LockstatError("\(path): another lockstat is writing this directory right now")
        }
        lockDescriptor = fd
    }

    /// Files listed in the manifest (relative names).
    public func recordedFiles() -> [String] {
        guard case .success(let text) = FileReader.readText(file(Self.manifestName)) else { return [] }
        return text.split(separator: "\n").map(String.init).filter { !$0.contains("/") && !$0.hasPrefix(".") }
    }

    public func writeManifest(_ names: [String]) throws {
        try writeAtomically(file(Self.manifestName), Array((names.joined(separator: "\n") + "\n").utf8))
    }

    public func addToManifest(_ names: [String]) throws {
        var all = recordedFiles()
        for n in names where !all.contains(n) { all.append(n) }
        try writeManifest(all)
    }

    public func removeFromManifest(where shouldRemove: (String) -> Bool) throws {
        let all = recordedFiles()
        for n in all where shouldRemove(n) { unlink(file(n)) }
        try writeManifest(all.filter { !shouldRemove($0) })
    }
}

/// mkdir -p with errors that name the path.
public func makeDirectories(_ path: String) throws {
    var st = stat()
    if stat(path, &st) == 0 {
        guard st.st_mode & S_IFMT == S_IFDIR else { throw LockstatError("\(path): exists and is not a directory") }
        return
    }
    let parent = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
    if !parent.isEmpty { try makeDirectories(parent) }
    if mkdir(path, 0o755) != 0 && errno != EEXIST {
        throw LockstatError("\(path): cannot create directory: \(String(cString: strerror(errno)))")
    }
}

/// Removes a directory and its files (one level: samples/ holds no subdirectories).
func removeTree(_ path: String) throws {
    guard let dir = opendir(path) else { return }
    defer { closedir(dir) }
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name == "." || name == ".." { continue }
        if unlink(path + "/" + name) != 0 { throw LockstatError("\(path)/\(name): cannot remove: \(String(cString: strerror(errno)))") }
    }
    rmdir(path)
}

/// Writes through a temporary file and rename(2): a reader never sees half a file.
public func writeAtomically(_ path: String, _ bytes: [UInt8]) throws {
    let tmp = path + ".tmp"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw LockstatError("\(path): cannot write: \(String(cString: strerror(errno)))") }
    var done = 0
    let ok: Bool = bytes.withUnsafeBytes { raw in
        while done < raw.count {
            let n = write(fd, raw.baseAddress! + done, raw.count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }
    let err = errno
    close(fd)
    guard ok, rename(tmp, path) == 0 else {
        unlink(tmp)
        throw LockstatError("\(path): cannot write: \(String(cString: strerror(ok ? errno : err)))")
    }
}

public func writeAtomically(_ path: String, _ text: String) throws {
    try writeAtomically(path, Array(text.utf8))
}
