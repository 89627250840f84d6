import Glibc

/// A batch record: where its frame lies in the log, and whether it was made against the batch before it.
public struct RawBatch: Sendable {
    public let payload: Range<Int>
    public let chained: Bool
}

/// The one batch decoded last (parsers read a log in order, so each batch is decoded once
/// more after the listing, however long the run).
final class RawBatchCache: @unchecked Sendable {
    private var index = -1
    private var bytes: UnsafeMutableRawBufferPointer?
    private var lock = pthread_mutex_t()
    private let zstd = Zstd()

    init() { pthread_mutex_init(&lock, nil) }

    deinit {
        bytes?.deallocate()
        pthread_mutex_destroy(&lock)
    }

    func content(of k: Int, batches: [RawBatch], storage: RawLogBytes) -> UnsafeRawBufferPointer {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        if index == k, let bytes { return UnsafeRawBufferPointer(bytes) }
        let raw = storage.buffer
        storage.read(batches[k].payload.count)
        // Back to the batch after the cached one, or to the last standalone batch.
        var first = k
        while batches[first].chained && first > 0 && first - 1 != index { first -= 1 }
        var previous: [UInt8]? = batches[first].chained && first - 1 == index ? bytes.map { Array($0) } : nil
        var current = [UInt8]()
        for j in first...k {
            let reference = batches[j].chained ? previous.map { Array($0.suffix(RawLogFormat.batchReference)) } : nil
            // Decoded once already when the log was read: it decodes again.
            _ = zstd.decompress(
                UnsafeRawBufferPointer(rebasing: raw[batches[j].payload]), prefix: reference,
                limit: RawLogFormat.maxBatch, into: &current)
            previous = current
        }
        bytes?.deallocate()
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: current.count, alignment: 8)
        current.withUnsafeBytes { copy.copyMemory(from: $0) }
        bytes = copy
        index = k
        return UnsafeRawBufferPointer(copy)
    }
}
