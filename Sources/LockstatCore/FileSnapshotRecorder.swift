import Glibc

/// The shared sampler of modules that snapshot kernel files: the files are opened once at
/// presampling, and each tick is one pread-until-EOF and one append per file. The log is
/// batched (`RawLogWriter.startBatching`): a second of snapshots in one zstd record, written
/// off the sampling thread, about a tenth of the bytes read.
public final class FileSnapshotRecorder: Recorder {
    private let descriptors: [Int32]
    private let log: RawLogWriter

    /// Opens `paths` (already mapped through the system root); stream i is paths[i].
    public init(paths: [String], log: RawLogWriter) throws {
        var fds = [Int32]()
        for path in paths {
            switch FileReader.openRegular(path) {
            case .success(let fd): fds.append(fd)
            case .failure(let failure):
                fds.forEach { close($0) }
                throw LockstatError("\(path): \(failure.reason)")
            }
        }
        descriptors = fds
        self.log = log
        log.startBatching()
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
