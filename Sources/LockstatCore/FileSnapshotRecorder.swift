import Glibc

/// The shared sampler of modules that snapshot kernel files: the files are opened once at
/// presampling, and each tick is one pread-until-EOF and one append per file.
public final class FileSnapshotRecorder: Recorder {
    private let descriptors: [Int32]
    private let log: RawLogWriter

    /// Opens `paths` (already mapped through the system root); stream i is paths[i].
    public init(paths: [String], log: RawLogWriter) throws {
        var fds = [Int32]()
        for path in paths {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd < 0 {
                let reason = FileReader.failure(errno).reason
                fds.forEach { close($0) }
                throw LockstatError("\(path): \(reason)")
            }
            fds.append(fd)
        }
        descriptors = fds
        self.log = log
    }

    deinit { descriptors.forEach { close($0) } }

    public func sample(tick: UInt64, time: UInt64) -> Bool {
        var ok = true
        for stream in descriptors.indices {
            ok = log.appendSnapshot(of: descriptors[stream], stream: UInt16(stream), tick: tick, time: time) && ok
        }
        return ok
    }

    public func postsampling() {}
}
