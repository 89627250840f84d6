import CLockstat
import Foundation
import LockstatCore

/// How the profile was taken, as presampling recorded it.
struct ProfileSetup {
    var event = "cpu-clock"
    var frequency = 99
    var scope = "system"
    var cpus: [Int32] = [0]
    var randomPeriod = false
    var model = "unknown"
    /// The running kernel's build ID (/sys/kernel/notes), to check a vmlinux against.
    var kernelBuildID: String?
    /// oprofile.callgraph dwarf: the user registers (perf's sample_regs_user mask) and the bytes
    /// of user stack each sample copied; 0 with frame-pointer call chains.
    var userRegisterMask: UInt64 = 0
    var userStackBytes = 0

    init(text: String) {
        for (key, value) in KeyValueLines.pairs(text) {
            switch key {
            case "event": event = String(value)
            case "frequency": frequency = Int(value) ?? frequency
            case "scope": scope = String(value)
            case "cpus": cpus = value.split(separator: " ").compactMap { Int32($0) }
            case "random_period": randomPeriod = value == "yes"
            case "model": model = String(value)
            case "kernel_build_id": kernelBuildID = String(value)
            case "user_registers": userRegisterMask = UInt64(value.dropFirst(2), radix: 16) ?? 0
            case "user_stack_bytes": userStackBytes = Int(value) ?? 0
            default: break
            }
        }
    }

    /// A sample's CPU number → its column (index in `cpus`).
    var columns: [UInt32: Int] {
        Dictionary(uniqueKeysWithValues: cpus.enumerated().map { (UInt32(bitPattern: $0.element), $0.offset) })
    }

    var text: String {
        KeyValueLines.text(
            [
                ("event", event), ("frequency", String(frequency)), ("scope", scope),
                ("cpus", cpus.map(String.init).joined(separator: " ")),
                ("random_period", randomPeriod ? "yes" : "no"), ("model", model),
            ]
                + (kernelBuildID.map { [("kernel_build_id", $0)] } ?? [])
                + (userStackBytes > 0
                    ? [("user_registers", "0x" + String(userRegisterMask, radix: 16)),
                        ("user_stack_bytes", String(userStackBytes))] : []))
    }

    /// The samples' layout: the sampler's, with the user registers and stack under dwarf.
    var format: PerfSample.Format {
        userStackBytes > 0
            ? ProfileRecordReader.format.union(PerfSample.Format(rawValue: ls_perf_sampler_dwarf_sample_type()))
            : ProfileRecordReader.format
    }
}

/// The oprofile entry of samples.pickle, from the raw log alone (samples, side records, the
/// process maps and kallsyms of presampling) and the ELF files still on this machine.
struct ProfileData {
    let setup: ProfileSetup
    let analysis: ProfileAnalysis
    let times: [Double]
    let top: Int
    let undecodable: Int
    let unreadableFiles: [String]
    /// Files modified after the run started: rebuilt since, their symbols may not be the run's.
    let changedFiles: [String]
    let vmlinuxWarning: String?

    /// `keepingStacks`: also make the pprof profile of every sample's stack (`stacks`).
    init(log: RawLog, config: Config, keepingStacks: Bool = false) throws {
        guard let setupRecord = log.sideRecords(stream: ProfileModule.setupStream).first else {
            throw LockstatError("\(log.path): no profiler setup record")
        }
        setup = ProfileSetup(text: log.text(setupRecord))
        top = ProfileSettings(config).top
        var kernel = KernelSymbols(try KallsymsRecord.read(log, stream: ProfileModule.kallsymsStream))
        var vmlinuxWarning: String?
        if let path = config.globals["vmlinux"]?.first {
            (kernel, vmlinuxWarning) = Self.kernel(
                fromVmlinux: path, kallsyms: kernel, runningBuildID: setup.kernelBuildID)
        }
        self.vmlinuxWarning = vmlinuxWarning
        var records = [ProfileRecord]()
        var bad = 0
        for r in log.records where r.kind == .snapshot && r.stream < RawLogStream.firstNamed {
            ProfileRecordReader.forEach(
                log.payloadBytes(r), format: setup.format, userRegisterMask: setup.userRegisterMask
            ) { record in
                if let record { records.append(record) } else { bad += 1 }
            }
        }
        // Rings are per CPU: merge them in time order (a stable sort keeps each ring's order).
        records = records.enumerated().sorted { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }.map(
            \.element)
        if setup.randomPeriod { Self.applyPeriodsSet(log, columns: setup.columns, to: &records) }
        let snapshot = log.sideRecords(stream: ProfileModule.mapsStream).map(log.text).joined()
        let drains = log.sideRecords(stream: PerfRings.drainedStream)
        let symbolizer = Symbolizer(kernel: kernel)
        analysis = ProfileAnalysis(
            records: records, snapshot: snapshot, symbolizer: symbolizer, columns: setup.columns,
            intervalEnds: drains.map(\.time), stacks: keepingStacks ? Self.emptyProfile(setup) : nil)
        times = drains.map { log.seconds($0) }
        undecodable = bad
        unreadableFiles = symbolizer.unreadableFiles
        // The run's start by the wall clock; logs written before it was recorded have the time
        // the run wrote lockstat.config, at its start.
        let started =
            log.startRealtime.map { Int($0 / 1_000_000_000) } ?? Self.modified(log.testDirectory + "/lockstat.config")
            ?? .max
        changedFiles = symbolizer.filesRead.filter { (Self.modified($0) ?? 0) > started }
    }

    /// Each sample's real period: the one lockstat last set on its CPU's event before it (the
    /// kernel reports the period the event was opened with; ProfileRecorder).
    static func applyPeriodsSet(_ log: RawLog, columns column: [UInt32: Int], to records: inout [ProfileRecord]) {
        let changes = log.sideRecords(stream: ProfileRecorder.periodStream).map {
            r -> (time: UInt64, periods: [UInt64]) in
            let bytes = log.payloadBytes(r)
            return (
                r.time, (0..<(bytes.count / 8)).map { bytes.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self) }
            )
        }
        guard !changes.isEmpty else { return }
        var next = 0
        var current: [UInt64]?
        for i in records.indices {
            guard case .sample(var s) = records[i] else { continue }
            while next < changes.count && changes[next].time <= s.time {
                current = changes[next].periods
                next += 1
            }
            if let current, let c = column[s.cpu], c < current.count {
                s.period = current[c]
                records[i] = .sample(s)
            }
        }
    }

    /// pprof's sample types: samples, and what their periods add up to (cpu-clock: ns of CPU,
    /// as Go's CPU profiles; a hardware event: its count).
    static func emptyProfile(_ setup: ProfileSetup) -> StackProfile {
        let time = setup.event == "cpu-clock"
        let measure = time ? (type: "cpu", unit: "nanoseconds") : (type: setup.event, unit: "count")
        var profile = StackProfile(
            sampleTypes: [("samples", "count"), measure], periodType: measure,
            period: time ? Int64(1e9 / Double(max(setup.frequency, 1))) : 0)
        profile.comments = ["lockstat profile: \(setup.event) at \(setup.frequency) Hz, scope \(setup.scope)"]
        return profile
    }

    static func modified(_ path: String) -> Int? {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_mtim.tv_sec : nil
    }

    /// The kernel image's symbols from a vmlinux ELF file, moved by the KASLR offset that
    /// kallsyms shows (start_kernel in both), with the modules' symbols from kallsyms; refused
    /// when its build ID is not the running kernel's.
    static func kernel(
        fromVmlinux path: String, kallsyms: KernelSymbols, runningBuildID: String?
    ) -> (KernelSymbols, String?) {
        guard let elf = ElfImage(path: path), !elf.symbols.isEmpty else {
            return (
                kallsyms,
                "vmlinux \(path): not a readable ELF file with a symbol table; kernel symbols come from /proc/kallsyms"
            )
        }
        if let running = runningBuildID, let built = elf.buildID, running != built {
            return (
                kallsyms,
                "vmlinux \(path) is not the kernel that ran (build ID \(built), running \(running)); kernel symbols come from /proc/kallsyms"
            )
        }
        var slide: UInt64 = 0
        if let running = kallsyms.address(of: "start_kernel"),
            let linked = elf.symbols.first(where: { $0.name == "start_kernel" })?.address
        {
            slide = running &- linked
        }
        var symbols = elf.symbols.map {
            KernelSymbols.Symbol(address: $0.address &+ slide, name: $0.name, isText: true, module: nil)
        }
        symbols += kallsyms.moduleSymbols
        var table = KernelSymbols(symbols: symbols)
        table.kernelImage = String(path.split(separator: "/").last ?? "vmlinux")
        return (table, nil)
    }

    /// Per interval, the share of each top symbol. cpu-clock: of all CPUs' time (%), the time its
    /// samples stand for (each sample's own period, ns) ÷ (measured Δt × CPUs); cycles: of the
    /// cycles counted in the interval (%).
    func shares(ofRow index: Int) -> [Double?] {
        let periods = analysis.periods(ofRow: index)
        return times.indices.map { i -> Double? in
            guard i > 0, times[i] > times[i - 1] else { return nil }
            if setup.event == "cpu-clock" {
                return periods[i] / (1e9 * (times[i] - times[i - 1]) * Double(setup.cpus.count)) * 100
            }
            return analysis.intervalTotals[i] > 0 ? periods[i] / analysis.intervalTotals[i] * 100 : 0
        }
    }

    /// `symbol [image]`; perf's bracketed images (`[kernel.kallsyms]`, `[ext4]`) as they are.
    static func label(symbol: String, image: String) -> String {
        symbol + " " + (image.hasPrefix("[") ? image : "[" + image + "]")
    }

    func row(_ row: ProfileAnalysis.Row) -> ProfileModel.Row {
        let all = analysis.all
        let t = row.tally
        func percent(_ part: Double, of whole: Double) -> Double { whole > 0 ? part / whole * 100 : 0 }
        return ProfileModel.Row(
            symbol: row.symbol, image: row.image, kind: row.kind.rawValue, samples: t.totalSamples,
            samplesPerCPU: t.samples,
            periodSum: t.totalPeriod, percent: percent(t.totalPeriod, of: all.totalPeriod),
            percentPerCPU: t.period.indices.map { percent(t.period[$0], of: all.period[$0]) })
    }

    var model: ProfileModel {
        let all = analysis.all
        return ProfileModel(
            cpus: setup.cpus.map(Int.init), cpuModel: setup.model, event: setup.event, scope: setup.scope,
            randomPeriod: setup.randomPeriod,
            frequency: setup.frequency, totalSamples: all.totalSamples, samplesPerCPU: all.samples,
            periodSum: all.totalPeriod,
            rows: analysis.rows.map(row), images: analysis.images.map(row),
            processes: analysis.processes.map { p in
                ProfileModel.Process(
                    name: p.image, samples: p.tally.totalSamples, periodSum: p.tally.totalPeriod,
                    percent: all.totalPeriod > 0 ? p.tally.totalPeriod / all.totalPeriod * 100 : 0)
            },
            time: times,
            top: analysis.rows.prefix(top).enumerated().map { (i, row) in
                (Self.label(symbol: row.symbol, image: row.image), shares(ofRow: i).map { $0 ?? .nan })
            },
            folded: analysis.folded.map { ($0.stack, $0.count) },
            frameKinds: analysis.frameKinds.sorted { $0.key < $1.key }.map { ($0.key, $0.value.rawValue) },
            lost: Int(analysis.lost))
    }
}
