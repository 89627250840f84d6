/// Symbol tables sorted by address: the one binary search the kernel's and ELF files' symbols share.
extension Array {
    /// The index of the last element whose address is ≤ `address`, nil when every one is above it.
    func lastIndex(atOrBelow address: UInt64, by addressOf: (Element) -> UInt64) -> Int? {
        var lo = 0
        var hi = count
        while lo < hi {
            let mid = (lo + hi) / 2
            if addressOf(self[mid]) <= address { lo = mid + 1 } else { hi = mid }
        }
        return lo > 0 ? lo - 1 : nil
    }
}
