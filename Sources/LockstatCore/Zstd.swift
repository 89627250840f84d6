import CLockstat

/// zstd frames of snapshots, optionally against the previous snapshot as reference.
public final class Zstd {
    private let context: OpaquePointer

    public init() { context = ls_zstd_new() }

    deinit { ls_zstd_free(context) }

    public static func bound(_ length: Int) -> Int { ls_zstd_bound(length) }

    /// Compresses into `destination` (at least `bound(source.count)` bytes); returns the size, 0 on error.
    public func compress(
        _ source: UnsafeRawBufferPointer, prefix: UnsafeRawBufferPointer?,
        into destination: UnsafeMutableRawBufferPointer, level: Int32 = 3
    ) -> Int {
        ls_zstd_compress(
            context, destination.baseAddress, destination.count, source.baseAddress, source.count,
            prefix?.baseAddress, prefix?.count ?? 0, level)
    }

    /// The content size `frame`'s header declares, or nil when it declares none.
    public static func declaredSize(_ frame: UnsafeRawBufferPointer) -> Int? {
        let size = ls_zstd_content_size(frame.baseAddress, frame.count)
        return size >= 0 && size <= Int64(Int.max) ? Int(size) : nil
    }

    /// Decompresses one frame into `output` (resized to fit); false when it does not decode, or
    /// does not declare a size of at most `limit` bytes. Nothing beyond the declared size is
    /// ever written (zstd stops there), so a frame that lies about its size costs no more.
    public func decompress(
        _ frame: UnsafeRawBufferPointer, prefix: [UInt8]?, limit: Int, into output: inout [UInt8]
    ) -> Bool {
        guard let size = Self.declaredSize(frame), size <= limit else { return false }
        var decoded = false
        output = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            let n: Int64
            if let prefix, !prefix.isEmpty {
                n = prefix.withUnsafeBytes {
                    ls_zstd_decompress(
                        context, buffer.baseAddress, buffer.count, frame.baseAddress, frame.count, $0.baseAddress,
                        $0.count)
                }
            } else {
                n = ls_zstd_decompress(
                    context, buffer.baseAddress, buffer.count, frame.baseAddress, frame.count, nil, 0)
            }
            decoded = n == size
            count = decoded ? size : 0
        }
        return decoded
    }
}
