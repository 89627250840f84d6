import Glibc
import SystemPackage

/// The test directory of one run: `lockstat.config`, `cmd`, `output`, `samples/`, `samples.pickle`,
/// `samples.json` and the graphs. `.lockstat-files` lists what the run wrote, so the next run in
/// the same directory replaces exactly those files and nothing else.
///
/// lockstat often runs as root in a folder a user can write (docs/running-as-root.md): DIR is
/// opened once with `O_DIRECTORY|O_NOFOLLOW` and every file is created, replaced and removed relative to that descriptor, with `O_NOFOLLOW` and `O_EXCL`, so
/// a symlink planted in DIR is replaced or refused, never followed. What this process created is
/// remembered by inode, so that under sudo only those files change owner.
public final class TestDirectory {
    public let path: String
    private var descriptor: Int32 = -1
    private var lockDescriptor: Int32 = -1
    /// Files and folders this process created: (name relative to DIR, inode).
    private var created: [(name: String, inode: ino_t)] = []
    /// A run's and a set's list of the files they wrote.
    static let runManifestName = ".lockstat-files"
    /// An output folder's lists, one per kind of output: `.lockstat-output-KIND`.
    static let outputManifestPrefix = ".lockstat-output-"
    /// The list this directory's writer keeps: the run's, or an output kind's.
    private(set) var manifestName = runManifestName
    static let lockName = ".lockstat.lock"
    static let samplesName = "samples"
    /// Files every run writes, whether or not the manifest survived.
    static let runFiles = ["lockstat.config", "cmd", "output", "samples.pickle", "samples.json", "run.json"]

    public init(_ path: String) { self.path = path }

    deinit {
        if lockDescriptor >= 0 { close(lockDescriptor) }
        if descriptor >= 0 { close(descriptor) }
    }

    public func file(_ name: String) -> String { path + "/" + name }
    public var samplesDirectory: String { file(Self.samplesName) }
    public func rawLog(_ module: String) -> String { samplesDirectory + "/" + module + ".log" }

    /// The owner of DIR (opened first).
    public func owner() throws -> (uid: uid_t, gid: gid_t) {
        let st = try status()
        return (st.st_uid, st.st_gid)
    }

    /// Opens DIR, creating it (and missing parents) when asked. Refuses a DIR that is a symlink.
    public func open(create: Bool) throws {
        guard descriptor < 0 else { return }
        if create {
            let parent = Self.parent(of: path)
            if parent != path { try makeDirectories(parent) }
            if mkdir(path, 0o755) == 0 {
                try openDescriptor()
                created.append((".", try status().st_ino))
                return
            } else if errno != EEXIST {
                throw LockstatError("\(path): cannot create directory: \(LastError.text)")
            }
        }
        try openDescriptor()
    }

    private func openDescriptor() throws {
        descriptor = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor < 0 else { return }
        let err = errno
        var st = stat()
        if lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFLNK {
            throw LockstatError(
                "\(path): is a symlink; lockstat writes only into a real directory (give the path it points to)")
        }
        switch err {
        case ELOOP:
            throw LockstatError(
                "\(path): is a symlink; lockstat writes only into a real directory (give the path it points to)")
        case ENOTDIR: throw LockstatError("\(path): exists and is not a directory")
        case ENOENT: throw LockstatError("\(path): no such directory")
        default: throw LockstatError("\(path): cannot open: \(LastError.text)")
        }
    }

    /// Root must not write where another user decides what the names mean.
    func refuseForeign() throws {
        let st = try status()
        let invoker = InvokingUser.current
        if st.st_uid != 0 && st.st_uid != invoker.uid && st.st_uid != geteuid() {
            throw LockstatError(
                "\(path): belongs to uid \(st.st_uid), not to root or to you: lockstat refuses to write into a directory someone else controls; choose a directory of your own"
            )
        }
    }

    func status() throws -> stat {
        if descriptor < 0 { try openDescriptor() }
        var st = stat()
        guard fstat(descriptor, &st) == 0 else { throw LockstatError("\(path): \(LastError.text)") }
        return st
    }

    /// Creates or opens DIR and takes its run lock; a DIR it did not create must be root's or the
    /// invoking user's, writable by its owner only, and for outputs hold no run or set.
    private func openLockedForWriting(outputs: Bool = false) throws {
        try open(create: true)
        if !createdItself {
            try refuseForeign()
            try refuseOthersWriting()
            if outputs { try refuseRunOrSet() }
        }
        try lock()
    }

    /// Creates or opens DIR, takes the run lock, and removes the previous run's files. An existing
    /// DIR must be root's or the invoking user's, and writable by its owner only.
    public func prepareForRun() throws {
        try openLockedForWriting()
        for name in Self.runFiles + recordedFiles() { remove(name) }
        try removeSamples()
        guard mkdirat(descriptor, Self.samplesName, 0o700) == 0 else {
            throw LockstatError("\(samplesDirectory): cannot create directory: \(LastError.text)")
        }
        try noteCreated(Self.samplesName)
        try writeManifest([])
    }

    /// The same for a repeat set's directory, which holds runs in folders of their own: the
    /// previous summary's files go, the runs' folders are each prepared by their own run.
    public func prepareForSet() throws {
        try openLockedForWriting()
        for name in recordedFiles() { remove(name) }
        try writeManifest([])
    }

    /// The same for a folder of outputs made from runs (`export`, `compare --output`): never a
    /// run or a set, whose files it would replace. Each kind of output ("export-csv", "compare")
    /// lists its files in a manifest of its own, so preparing removes only what the previous
    /// output of that kind wrote: other kinds' files and the user's stay.
    public func prepareForOutput(kind: String) throws {
        try openLockedForWriting(outputs: true)
        manifestName = Self.outputManifestPrefix + kind
        for name in recordedFiles() { remove(name) }
        try writeManifest([])
    }

    /// Refuses a folder that holds a run or a repeat set: what marks one, checked without
    /// following a symlink. A missing folder holds nothing.
    public func refuseRunOrSet() throws {
        if descriptor < 0 {
            var st = stat()
            if lstat(path, &st) != 0 && errno == ENOENT { return }
            try openDescriptor()
        }
        let marks = [
            ("run", "run.json"), ("run", Self.samplesName), ("run", "samples.pickle"),
            ("run or repeat set", Self.runManifestName),
            ("repeat set", RunSet.summaryName), ("repeat set", "set.pickle"),
        ]
        for (what, name) in marks {
            var st = stat()
            if fstatat(descriptor, name, &st, AT_SYMLINK_NOFOLLOW) == 0 {
                throw LockstatError(
                    "\(path): holds a \(what) (\(name)): export and compare write only into a folder "
                        + "of their own, never over a run; give another --output")
            }
        }
    }

    /// Takes the lock that says a lockstat is writing this directory; refuses when another holds it.
    public func lock() throws {
        try open(create: false)
        guard faccessat(descriptor, ".", W_OK | X_OK, AT_EACCESS) == 0 else {
            throw LockstatError("\(path): directory not writable")
        }
        var fd = openat(descriptor, Self.lockName, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        if fd >= 0 {
            try noteCreated(Self.lockName)
        } else if errno == EEXIST {
            fd = openat(descriptor, Self.lockName, O_RDWR | O_NOFOLLOW | O_CLOEXEC)
        }
        guard fd >= 0 else {
            throw LockstatError(
                "\(file(Self.lockName)): \(errno == ELOOP ? "is a symlink; remove it" : LastError.text)")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            throw LockstatError("\(path): another lockstat is writing this directory right now")
        }
        lockDescriptor = fd
    }

    // MARK: Files

    /// Writes `name` (in DIR, or `samples/NAME`) through a fresh temporary file and renameat(2):
    /// a reader never sees half a file, and whatever stood at `name` (a symlink included) is
    /// replaced, not followed.
    public func write(_ name: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
        try write(name, mode: mode) { emit in emit(bytes) }
    }

    /// The same for contents made piece by piece: `body` hands each piece to `emit` as it is
    /// made (samples.pickle and samples.json of a long run are never whole in memory).
    public func write(
        _ name: String, mode: mode_t = 0o644, streaming body: (_ emit: ([UInt8]) -> Void) throws -> Void
    ) throws {
        let (folder, leaf) = try folder(of: name)
        defer { if folder != descriptor { close(folder) } }
        let temporary = ".\(leaf).\(getpid()).tmp"
        unlinkat(folder, temporary, 0)
        let fd = openat(folder, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw LockstatError("\(file(name)): cannot write: \(LastError.text)") }
        var failure: Int32?
        do {
            try body { piece in if failure == nil { failure = writeAll(fd, piece) } }
        } catch {
            close(fd)
            unlinkat(folder, temporary, 0)
            throw error
        }
        let closed = close(fd) == 0
        guard failure == nil, closed, renameat(folder, temporary, folder, leaf) == 0 else {
            let err = failure ?? errno
            unlinkat(folder, temporary, 0)
            throw LockstatError("\(file(name)): cannot write: \(SystemPackage.Errno(rawValue: err).description)")
        }
        try noteCreated(name)
    }

    public func write(_ name: String, _ text: String, mode: mode_t = 0o644) throws {
        try write(name, Array(text.utf8), mode: mode)
    }

    /// A new, empty file `name` opened for appending, in place of whatever stood there: made
    /// under a temporary name with O_EXCL and renamed over `name`, so no planted symlink can
    /// redirect it even if it is planted again in between.
    public func createFile(_ name: String, mode: mode_t = 0o644) throws -> Int32 {
        let (folder, leaf) = try folder(of: name)
        defer { if folder != descriptor { close(folder) } }
        let temporary = ".\(leaf).\(getpid()).tmp"
        unlinkat(folder, temporary, 0)
        let fd = openat(folder, temporary, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw LockstatError("\(file(name)): cannot create: \(LastError.text)") }
        guard renameat(folder, temporary, folder, leaf) == 0 else {
            let err = errno
            close(fd)
            unlinkat(folder, temporary, 0)
            throw LockstatError("\(file(name)): cannot create: \(SystemPackage.Errno(rawValue: err).description)")
        }
        try noteCreated(name)
        return fd
    }

    /// `name` opened for appending, created when missing; a symlink there is refused (ELOOP).
    public func appendFile(_ name: String) throws -> Int32 {
        let (folder, leaf) = try folder(of: name)
        defer { if folder != descriptor { close(folder) } }
        var fd = openat(folder, leaf, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        if fd >= 0 {
            try noteCreated(name)
        } else if errno == EEXIST {
            fd = openat(folder, leaf, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            // An existing file is appended to only when it is a plain file with one link: a hard
            // link planted there would make the append land in someone else's file.
            var st = stat()
            if fd >= 0 && (fstat(fd, &st) != 0 || st.st_mode & S_IFMT != S_IFREG || st.st_nlink != 1) {
                close(fd)
                throw LockstatError("\(file(name)): not a plain file of its own (links or type): not written")
            }
        }
        guard fd >= 0 else { throw LockstatError("\(file(name)): cannot write: \(LastError.text)") }
        return fd
    }

    /// Removes `name` from DIR (a symlink itself, never what it points to).
    public func remove(_ name: String) {
        guard let (folder, leaf) = try? folder(of: name) else { return }
        unlinkat(folder, leaf, 0)
        if folder != descriptor { close(folder) }
    }

    /// The folder descriptor and leaf name of `name` (`NAME` or `samples/NAME`).
    private func folder(of name: String) throws -> (Int32, String) {
        if descriptor < 0 { try openDescriptor() }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count <= 2, parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else {
            throw LockstatError("\(file(name)): not a name lockstat writes")
        }
        if parts.count == 1 { return (descriptor, parts[0]) }
        let fd = openat(descriptor, parts[0], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw LockstatError("\(file(parts[0])): cannot open folder: \(LastError.text)") }
        return (fd, parts[1])
    }

    /// Removes samples/ and its files; a symlink named samples is removed, not followed.
    private func removeSamples() throws {
        let fd = openat(descriptor, Self.samplesName, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0 {
            if errno == ELOOP || errno == ENOTDIR { unlinkat(descriptor, Self.samplesName, 0) }
            return
        }
        guard let listing = fdopendir(fd) else {
            close(fd)
            return
        }
        defer { closedir(listing) }
        while let entry = readdir(listing) {
            let name = entryName(entry)
            if name == "." || name == ".." { continue }
            if unlinkat(fd, name, 0) != 0 {
                throw LockstatError("\(samplesDirectory)/\(name): cannot remove: \(LastError.text)")
            }
        }
        if unlinkat(descriptor, Self.samplesName, AT_REMOVEDIR) != 0 {
            throw LockstatError("\(samplesDirectory): cannot remove: \(LastError.text)")
        }
    }

    /// Names of regular files at the top of DIR, with their modification times.
    public func listing() -> [String: timespec] { entries(ofType: S_IFREG) }

    /// Names of the folders at the top of DIR (symlinks are not folders).
    public func folders() -> [String] { Array(entries(ofType: S_IFDIR).keys).filter { $0 != "." && $0 != ".." } }

    private func entries(ofType type: mode_t) -> [String: timespec] {
        guard let fd = try? duplicateDescriptor(), let listing = fdopendir(fd) else { return [:] }
        defer { closedir(listing) }
        var result = [String: timespec]()
        while let entry = readdir(listing) {
            let name = entryName(entry)
            var st = stat()
            if fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0, st.st_mode & S_IFMT == type {
                result[name] = st.st_mtim
            }
        }
        return result
    }

    private func duplicateDescriptor() throws -> Int32 {
        if descriptor < 0 { try openDescriptor() }
        let fd = openat(descriptor, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw LockstatError("\(path): \(LastError.text)") }
        return fd
    }

    // MARK: Ownership

    /// Remembers that this process made `name` (a drop-in's plot files too: the caller vouches).
    public func noteCreated(_ name: String) throws {
        let (folder, leaf) = try folder(of: name)
        defer { if folder != descriptor { close(folder) } }
        var st = stat()
        if fstatat(folder, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 { created.append((name, st.st_ino)) }
    }

    /// Gives what this process created to `uid`/`gid` (fchownat, AT_SYMLINK_NOFOLLOW), checking
    /// each is still the inode it made and has one link: nothing that existed before changes owner.
    public func giveCreatedFiles(to uid: uid_t, _ gid: gid_t) throws {
        if descriptor < 0 { try openDescriptor() }
        var failures = [String]()
        var seen = Set<String>()
        for (name, inode) in created.reversed() where seen.insert(name).inserted {
            let (at, target) = name == "." ? (descriptor, ".") : ((try? folder(of: name)) ?? (-1, ""))
            guard at >= 0 else { continue }
            defer { if at != descriptor { close(at) } }
            var st = stat()
            guard fstatat(at, target, &st, AT_SYMLINK_NOFOLLOW) == 0, st.st_ino == inode else { continue }
            let kind = st.st_mode & S_IFMT
            guard kind == S_IFDIR || (kind == S_IFREG && st.st_nlink == 1) else { continue }
            if fchownat(at, target, uid, gid, AT_SYMLINK_NOFOLLOW) != 0 { failures.append(name) }
        }
        // samples/ was made by this run, mode 0700: only this run (and its root-owned drop-ins,
        // e.g. meminfo.py's own file there) could have put anything into it.
        if let samples = created.first(where: { $0.name == Self.samplesName }),
            let folder = try? folder(of: Self.samplesName + "/x").0
        {
            defer { close(folder) }
            var st = stat()
            if fstat(folder, &st) == 0, st.st_ino == samples.inode, let listing = fdopendir(dup(folder)) {
                defer { closedir(listing) }
                while let entry = readdir(listing) {
                    let name = entryName(entry)
                    var file = stat()
                    guard fstatat(folder, name, &file, AT_SYMLINK_NOFOLLOW) == 0, file.st_mode & S_IFMT == S_IFREG,
                        file.st_nlink == 1, file.st_uid != uid
                    else { continue }
                    if fchownat(folder, name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0 {
                        failures.append(Self.samplesName + "/" + name)
                    }
                }
            }
        }
        if !failures.isEmpty {
            throw LockstatError(
                "\(path): could not give \(failures.count) files to uid \(uid): \(failures.prefix(3).joined(separator: ", "))"
            )
        }
    }

    /// Whether this process created DIR itself.
    public var createdItself: Bool { created.contains { $0.name == "." } }

    // MARK: Manifest

    /// Files listed in the manifest (relative names).
    public func recordedFiles() -> [String] {
        guard case .success(let bytes) = read(manifestName) else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
            .filter { !$0.contains("/") && !$0.hasPrefix(".") }
    }

    /// A file of DIR, read without following a symlink.
    public func read(_ name: String) -> Result<[UInt8], FileReader.Failure> {
        withFile(name) { FileReader.readAll(descriptor: $0) }
    }

    /// A regular file of DIR opened to read without following a symlink, for `body` to read.
    public func withFile<T>(
        _ name: String, _ body: (Int32) throws -> Result<T, FileReader.Failure>
    ) rethrows -> Result<T, FileReader.Failure> {
        guard let (folder, leaf) = try? folder(of: name) else { return .failure(.missing) }
        defer { if folder != descriptor { close(folder) } }
        let fd = openat(folder, leaf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 { return .failure(.from(errno)) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return .failure(.notRegular) }
        return try body(fd)
    }

    public func writeManifest(_ names: [String]) throws {
        try write(manifestName, Array((names.joined(separator: "\n") + "\n").utf8))
    }

    public func addToManifest(_ names: [String]) throws {
        var all = recordedFiles()
        for n in names where !all.contains(n) { all.append(n) }
        try writeManifest(all)
    }

    public func removeFromManifest(where shouldRemove: (String) -> Bool) throws {
        let all = recordedFiles()
        for n in all where shouldRemove(n) { remove(n) }
        try writeManifest(all.filter { !shouldRemove($0) })
    }

    static func parent(of path: String) -> String {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropLast()
        let joined = parts.joined(separator: "/")
        return joined.isEmpty ? (path.hasPrefix("/") ? "/" : ".") : joined
    }
}

/// mkdir -p with errors that name the path.
public func makeDirectories(_ path: String) throws {
    var st = stat()
    if stat(path, &st) == 0 {
        guard st.st_mode & S_IFMT == S_IFDIR else { throw LockstatError("\(path): exists and is not a directory") }
        return
    }
    let parent = TestDirectory.parent(of: path)
    if parent != path && parent != "." && parent != "/" { try makeDirectories(parent) }
    if mkdir(path, 0o755) != 0 && errno != EEXIST {
        throw LockstatError("\(path): cannot create directory: \(LastError.text)")
    }
}

func entryName(_ entry: UnsafeMutablePointer<dirent>) -> String {
    withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
}

/// Text to a descriptor (stderr, a pipe), whole: write(2) retried on EINTR, which Foundation's
/// FileHandle.write turns into a crash (lockstat's own signals interrupt system calls).
/// Returns false when the descriptor is gone (EPIPE: SIGPIPE is ignored).
@discardableResult
public func writeText(_ fd: Int32, _ text: String) -> Bool { writeAll(fd, Array(text.utf8)) == nil }

/// write(2) until done, retried on EINTR; the errno of a failure, else nil.
func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Int32? {
    do {
        _ = try bytes.withUnsafeBytes { try FileDescriptor(rawValue: fd).writeAll($0) }
        return nil
    } catch let e as SystemPackage.Errno {
        return e.rawValue
    } catch {
        return EIO
    }
}

/// The last system call's error, as strerror(3) words it.
enum LastError {
    static var text: String { SystemPackage.Errno(rawValue: errno).description }
}

extension TestDirectory {
    /// As root, a directory others may write into could hold anything by the time it is read.
    func refuseOthersWriting() throws {
        let st = try status()
        if geteuid() == 0, let mode = OthersMayWrite.mode(st) {
            throw LockstatError(
                "\(path): other users may write into it (mode \(mode)): lockstat, as root, refuses it; chmod go-w \(path) or choose a directory of your own"
            )
        }
    }
}
