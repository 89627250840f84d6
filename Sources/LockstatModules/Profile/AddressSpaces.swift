import Foundation
import LockstatCore

/// Which file each process had mapped where, and what its tasks were called, replayed in time
/// order: the executable mappings of /proc/PID/maps at presampling, then the kernel's MMAP2,
/// COMM, FORK and EXIT records. It is what names the code of processes gone by the run's end.
struct AddressSpaces {
    struct Mapping {
        var start: UInt64
        var end: UInt64
        var fileOffset: UInt64
        var path: String
        /// Holds code (an `x` in the maps line's permissions; the kernel's MMAP2 records are of code).
        var executable = true

        /// The shared memory this maps, named `[shared anon]` (a MAP_SHARED|MAP_ANONYMOUS or /dev/zero
        /// mapping), `[SYSV0000002a]` (SysV, by key) or `[memfd:NAME]`; nil for a file or private
        /// memory. The kernel lists these as paths, but they are no file: nothing to open for symbols.
        var sharedMemory: String? {
            guard path.hasPrefix("/"), path.hasSuffix(" (deleted)") else { return nil }
            let name = path.dropFirst().dropLast(10)
            if name == "dev/zero" { return "[shared anon]" }
            if name.hasPrefix("SYSV") || name.hasPrefix("memfd:") { return "[\(name)]" }
            return nil
        }
    }
    private var maps: [UInt32: [Mapping]] = [:]
    private var names: [UInt32: String] = [:]

    /// The executable mappings and names of every process now, as `= PID NAME` then the maps lines.
    static func snapshot(_ system: SystemRoot) -> String {
        var out = ""
        let proc = system.path("/proc")
        for pid in TaskNames.processIDs(system) {
            guard case .success(let maps) = FileReader.readText("\(proc)/\(pid)/maps") else { continue }
            let comm =
                (try? FileReader.readText("\(proc)/\(pid)/comm").get())?.trimmingCharacters(in: .whitespacesAndNewlines)
                ?? ""
            out += "= \(pid) \(comm)\n"
            for line in maps.split(separator: "\n")
            where line.split(separator: " ", maxSplits: 2).dropFirst().first?.contains("x") == true {
                out += line + "\n"
            }
        }
        return out
    }

    /// Loads a snapshot made by `snapshot`.
    mutating func load(snapshot text: String) {
        var pid: UInt32?
        for line in text.split(separator: "\n") {
            if line.hasPrefix("= ") {
                let f = line.dropFirst(2).split(separator: " ", maxSplits: 1)
                pid = f.first.flatMap { UInt32($0) }
                if let pid { names[pid] = f.count > 1 ? String(f[1]) : "" }
                continue
            }
            // start-end perms offset dev inode path: the path starts with / or [ and may hold spaces.
            let f = line.split(separator: " ")
            guard let pid, f.count >= 5 else { continue }
            let range = f[0].split(separator: "-")
            guard range.count == 2, let start = UInt64(range[0], radix: 16), let end = UInt64(range[1], radix: 16),
                let offset = UInt64(f[2], radix: 16)
            else { continue }
            let path = f.count > 5 ? String(line[f[5].startIndex...]) : ""
            maps[pid, default: []].append(
                Mapping(start: start, end: end, fileOffset: offset, path: path, executable: f[1].contains("x")))
        }
    }

    mutating func apply(_ record: ProfileRecord) {
        switch record {
        case .mmap(let pid, let start, let length, let offset, let path, _):
            maps[pid, default: []].append(Mapping(start: start, end: start &+ length, fileOffset: offset, path: path))
        case .comm(let pid, let tid, let name, let exec, _):
            if exec { maps[pid] = [] }
            names[tid] = name
            if pid == tid { names[pid] = name }
        case .fork(let pid, let ppid, let tid, let ptid, _):
            names[tid] = names[ptid] ?? names[ppid]
            // A new process starts with a copy of its parent's address space; a thread shares it.
            if pid != ppid { maps[pid] = maps[ppid] ?? [] }
        case .sample, .exit, .lost:
            break
        }
    }

    /// `other`'s processes (maps and names) that this has none of.
    mutating func adopt(_ other: AddressSpaces) {
        for (pid, mappings) in other.maps where maps[pid] == nil {
            maps[pid] = mappings
        }
        for (tid, name) in other.names where names[tid] == nil { names[tid] = name }
    }

    /// The mapping holding `address` in process `pid`; the latest mapping wins where they overlap.
    func mapping(pid: UInt32, address: UInt64) -> Mapping? {
        maps[pid]?.last { address >= $0.start && address < $0.end }
    }

    /// The task's name, else its process's, else `[pid N]` (perf shows `:N`).
    func name(pid: UInt32, tid: UInt32) -> String {
        if pid == 0 { return "swapper" }
        return names[tid] ?? names[pid] ?? "[pid \(pid)]"
    }
}

extension AddressSpaces {
    /// Every mapping of process `pid`, in the order recorded.
    func mappings(pid: UInt32) -> [Mapping] { maps[pid] ?? [] }
}
