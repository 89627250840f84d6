/// Which device names are whole disks, so totals do not count partitions twice.
/// The kernel's answer is /sys/block (whole disks only; a `/` in a name shows as `!` there).
/// Without it (a copied capture), a name is a partition when another device's name plus
/// digits, or plus `p` and digits (nvme0n1p1, mmcblk0p1), makes it, or when its line had
/// the 2.6.0–2.6.24 partition layout.
enum WholeDisks {
    static func fromSysBlock(_ listing: String) -> Set<String> {
        Set(listing.split(separator: "\n").map { $0.replacingOccurrences(of: "!", with: "/") })
    }

    static func guess(names: [String], partitionLayout: Set<String>) -> [String] {
        let all = Set(names)
        return names.filter { name in
            if partitionLayout.contains(name) { return false }
            var stem = Substring(name)
            while let last = stem.last, last.isNumber { stem = stem.dropLast() }
            guard stem.count < name.count else { return true }
            if all.contains(String(stem)) { return false }
            if stem.last == "p", let beforeP = stem.dropLast().last, beforeP.isNumber,
                all.contains(String(stem.dropLast()))
            {
                return false
            }
            return true
        }
    }
}

extension Substring {
    fileprivate func replacingOccurrences(of a: Character, with b: Character) -> String {
        String(map { $0 == a ? b : $0 })
    }
}
