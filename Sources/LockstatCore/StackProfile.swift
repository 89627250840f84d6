import CLockstat
import Glibc
import PprofProto
import SwiftProtobuf

/// Call stacks with values, the shape pprof's profile.proto holds (github.com/google/pprof,
/// proto/profile.proto): modules fill it from their raw logs, the core encodes it once.
public struct StackProfile {
    /// What each of a sample's values counts, as pprof names it: ("samples", "count"),
    /// ("cpu", "nanoseconds"), ("contentions", "count"), ("delay", "nanoseconds").
    public var sampleTypes: [(type: String, unit: String)]
    public var periodType: (type: String, unit: String)
    public var period: Int64
    /// Wall-clock start and length of the run (ns).
    public var timeNanos: Int64 = 0
    public var durationNanos: Int64 = 0
    public var comments: [String] = []
    public private(set) var samples: [Sample] = []
    private var index: [SampleKey: Int] = [:]

    public struct Mapping: Hashable {
        public var start: UInt64, limit: UInt64, offset: UInt64
        public var file: String
        public var buildID: String
        public init(start: UInt64, limit: UInt64, offset: UInt64, file: String, buildID: String) {
            self.start = start
            self.limit = limit
            self.offset = offset
            self.file = file
            self.buildID = buildID
        }

        /// The kernel's own code, under perf's name; its functions come from kallsyms (or a vmlinux).
        public static let kernel = Mapping(start: 0, limit: .max, offset: 0, file: "[kernel.kallsyms]", buildID: "")
    }

    /// One frame: where it ran, the function there (its name as the report shows it) and the
    /// mapping holding the address.
    public struct Frame: Hashable {
        public var address: UInt64
        public var function: String
        public var mapping: Mapping?
        public init(address: UInt64, function: String, mapping: Mapping?) {
            self.address = address
            self.function = function
            self.mapping = mapping
        }
    }

    public struct Sample {
        /// Leaf first.
        public var frames: [Frame]
        public var values: [Int64]
        public var labels: [(key: String, value: String)]
    }

    private struct SampleKey: Hashable {
        let frames: [Frame]
        let labels: [String]
    }

    public init(sampleTypes: [(type: String, unit: String)], periodType: (type: String, unit: String), period: Int64) {
        self.sampleTypes = sampleTypes
        self.periodType = periodType
        self.period = period
    }

    /// Adds `values` to the sample of these frames and labels (made on first use).
    public mutating func add(frames: [Frame], values: [Int64], labels: [(key: String, value: String)] = []) {
        let key = SampleKey(frames: frames, labels: labels.flatMap { [$0.key, $0.value] })
        if let i = index[key] {
            for (k, v) in values.enumerated() { samples[i].values[k] += v }
        } else {
            index[key] = samples.count
            samples.append(Sample(frames: frames, values: values, labels: labels))
        }
    }

    /// The wall clock now (ns since the epoch), as `timeNanos` counts it.
    public static func wallClockNanoseconds() -> Int64 {
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        return Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec)
    }

    /// What each sample gained since `earlier` (the same source read before): Go's delta profiles
    /// (`?seconds=N`). Samples that gained nothing are left out.
    public func subtracting(_ earlier: StackProfile) -> StackProfile {
        var delta = StackProfile(sampleTypes: sampleTypes, periodType: periodType, period: period)
        delta.comments = comments
        for sample in samples {
            let key = SampleKey(frames: sample.frames, labels: sample.labels.flatMap { [$0.key, $0.value] })
            let before = earlier.index[key].map { earlier.samples[$0].values } ?? []
            let values = sample.values.enumerated().map { k, v in v - (k < before.count ? before[k] : 0) }
            guard values.contains(where: { $0 > 0 }) else { continue }
            delta.add(frames: sample.frames, values: values.map { max(0, $0) }, labels: sample.labels)
        }
        return delta
    }

    /// profile.proto's message, gzip-compressed, as pprof, Pyroscope and Parca read it.
    public func encoded() throws -> [UInt8] {
        var strings = [""]
        var stringIndex = ["": Int64(0)]
        func string(_ s: String) -> Int64 {
            if let i = stringIndex[s] { return i }
            stringIndex[s] = Int64(strings.count)
            strings.append(s)
            return Int64(strings.count - 1)
        }
        func valueType(_ t: (type: String, unit: String)) -> Perftools_Profiles_ValueType {
            var v = Perftools_Profiles_ValueType()
            v.type = string(t.type)
            v.unit = string(t.unit)
            return v
        }
        var profile = Perftools_Profiles_Profile()
        profile.sampleType = sampleTypes.map(valueType)
        profile.periodType = valueType(periodType)
        profile.period = period
        profile.timeNanos = timeNanos
        profile.durationNanos = durationNanos
        // ids start at 1: 0 means "none" in profile.proto.
        var mappings = [Mapping: UInt64]()
        var functions = [String: UInt64]()
        var locations = [Frame: UInt64]()
        func mappingID(_ m: Mapping) -> UInt64 {
            if let id = mappings[m] { return id }
            var mapping = Perftools_Profiles_Mapping()
            mapping.id = UInt64(mappings.count + 1)
            mapping.memoryStart = m.start
            mapping.memoryLimit = m.limit
            mapping.fileOffset = m.offset
            mapping.filename = string(m.file)
            mapping.buildID = string(m.buildID)
            mapping.hasFunctions_p = true
            mappings[m] = mapping.id
            profile.mapping.append(mapping)
            return mapping.id
        }
        // pprof takes the first mapping for the profile's main file: the kernel, when it ran.
        if samples.contains(where: { $0.frames.contains { $0.mapping == .kernel } }) { _ = mappingID(.kernel) }
        for sample in samples {
            var s = Perftools_Profiles_Sample()
            for frame in sample.frames {
                if let id = locations[frame] {
                    s.locationID.append(id)
                    continue
                }
                var location = Perftools_Profiles_Location()
                location.id = UInt64(locations.count + 1)
                location.address = frame.address
                if let m = frame.mapping { location.mappingID = mappingID(m) }
                if functions[frame.function] == nil {
                    var function = Perftools_Profiles_Function()
                    function.id = UInt64(functions.count + 1)
                    function.name = string(frame.function)
                    function.systemName = function.name
                    functions[frame.function] = function.id
                    profile.function.append(function)
                }
                var line = Perftools_Profiles_Line()
                line.functionID = functions[frame.function]!
                location.line = [line]
                locations[frame] = location.id
                profile.location.append(location)
                s.locationID.append(location.id)
            }
            s.value = sample.values
            s.label = sample.labels.map { l in
                var label = Perftools_Profiles_Label()
                label.key = string(l.key)
                label.str = string(l.value)
                return label
            }
            profile.sample.append(s)
        }
        profile.comment = comments.map(string)
        profile.stringTable = strings
        let raw: [UInt8] = try profile.serializedBytes()
        var out = [UInt8](repeating: 0, count: ls_gzip_bound(raw.count))
        let n = ls_gzip(raw, raw.count, &out, out.count)
        guard n >= 0 else { throw LockstatError("pprof: gzip failed") }
        return Array(out.prefix(n))
    }
}
