import Foundation

/// The one formatter of scaled numbers: durations (ns, us, ms, s), counts with SI prefixes
/// (k, M, G) and axis ticks. A scale is a ladder of steps; a value takes the largest step it
/// reaches and is printed in that step's unit with that step's digits. The ladders below are
/// the styles lockstat prints; they differ only in their parameters.
public struct UnitScale: Sendable {
    /// How a step prints its mantissa.
    public enum Digits: Sendable {
        /// `%.Nf`.
        case fixed(Int)
        /// `%.Nf` without trailing zeros (0.1, not 0.100).
        case trimmed(Int)
        /// `%.0f` for a whole number, else `%.Nf`.
        case fixedUnlessWhole(Int)
        /// The whole part, rounded toward zero (1536 ns is "1 µs").
        case whole
    }

    public struct Step: Sendable {
        /// The least magnitude printed in this step is 10^from; nil for the last step.
        public var from: Int?
        /// One unit of this step is 10^power (3 for k, -3 for ms).
        public var power: Int
        /// Appended to the mantissa (" ms", "k").
        public var suffix: String
        public var digits: Digits

        public init(from: Int?, power: Int, suffix: String, digits: Digits) {
            self.from = from
            self.power = power
            self.suffix = suffix
            self.digits = digits
        }
    }

    /// Largest first; the last takes everything smaller, NaN included.
    public let steps: [Step]

    public init(_ steps: [Step]) {
        precondition(
            !steps.isEmpty && steps.dropLast().allSatisfy { $0.from != nil },
            "UnitScale: steps without a start")
        self.steps = steps
    }

    /// 10^k exactly as the literal 1ek (a power of ten below 1 is not exact in binary: a
    /// mantissa is v × 1e9, not v / 1e-9).
    private static func ten(_ k: Int) -> Double { k >= -30 && k <= 30 ? tens[k + 30] : Double("1e\(k)")! }
    private static let tens = (-30...30).map { Double("1e\($0)")! }

    /// `v` in the largest step its magnitude reaches. A mantissa that rounds up to the next
    /// step's start is printed in that step (0.999996 s is "1.00 s", not "1000.00 ms"). The
    /// sign is kept; -0 prints as 0.
    public func text(_ v: Double) -> String {
        let magnitude = abs(v)
        var i = steps.firstIndex { $0.from.map { magnitude >= Self.ten($0) } ?? true } ?? steps.count - 1
        while i > 0, let shown = Self.shownMagnitude(Self.inUnits(magnitude, steps[i]), steps[i].digits),
            shown >= Self.ten(steps[i - 1].from! - steps[i].power)
        {
            i -= 1
        }
        return Self.mantissa(Self.inUnits(v, steps[i]), steps[i].digits) + steps[i].suffix
    }

    private static func inUnits(_ v: Double, _ step: Step) -> Double {
        step.power >= 0 ? v / ten(step.power) : v * ten(-step.power)
    }

    /// The magnitude the mantissa shows once rounded; nil for NaN and infinities.
    private static func shownMagnitude(_ m: Double, _ digits: Digits) -> Double? {
        guard m.isFinite else { return nil }
        switch digits {
        case .whole: return m.rounded(.towardZero)
        case .fixed(let n), .trimmed(let n), .fixedUnlessWhole(let n):
            if case .fixedUnlessWhole = digits, m == m.rounded() { return m }
            return Double(String(format: "%.\(n)f", m)) ?? m
        }
    }

    private static func mantissa(_ m: Double, _ digits: Digits) -> String {
        var s: String
        switch digits {
        case .fixed(let n): s = String(format: "%.\(n)f", m)
        case .fixedUnlessWhole(let n): s = String(format: m == m.rounded() ? "%.0f" : "%.\(n)f", m)
        case .whole: s = m.isFinite && abs(m) < 1e18 ? String(Int64(m.rounded(.towardZero))) : String(format: "%.0f", m)
        case .trimmed(let n):
            s = String(format: "%.\(n)f", m)
            if s.contains(".") {
                while s.hasSuffix("0") { s.removeLast() }
                if s.hasSuffix(".") { s.removeLast() }
            }
        }
        return s.hasPrefix("-") && s.dropFirst().allSatisfy({ $0 == "0" || $0 == "." }) ? String(s.dropFirst()) : s
    }

    /// Seconds as perf prints durations: "12 ns", "192.67 us", "3.10 ms", "2.00 s".
    public static let duration = UnitScale([
        Step(from: 0, power: 0, suffix: " s", digits: .fixed(2)),
        Step(from: -3, power: -3, suffix: " ms", digits: .fixed(2)),
        Step(from: -6, power: -6, suffix: " us", digits: .fixed(2)),
        Step(from: nil, power: -9, suffix: " ns", digits: .fixed(0)),
    ])

    /// Whole nanoseconds as a bucket's bound: "512 ns", "32 µs", "4 ms", truncated.
    public static let wholeNanoseconds = UnitScale([
        Step(from: 9, power: 9, suffix: " s", digits: .whole),
        Step(from: 6, power: 6, suffix: " ms", digits: .whole),
        Step(from: 3, power: 3, suffix: " µs", digits: .whole),
        Step(from: nil, power: 0, suffix: " ns", digits: .whole),
    ])

    /// Axis ticks and chart values: "0.1", "1.5k", "20M", "3G" (k from 10 000).
    public static let tick = UnitScale([
        Step(from: 9, power: 9, suffix: "G", digits: .trimmed(3)),
        Step(from: 6, power: 6, suffix: "M", digits: .trimmed(3)),
        Step(from: 4, power: 3, suffix: "k", digits: .trimmed(3)),
        Step(from: nil, power: 0, suffix: "", digits: .trimmed(3)),
    ])

    /// A compared count in a narrow column: "2.31M", "12.5k", "9999", "2.5".
    public static let compactCount = UnitScale([
        Step(from: 6, power: 6, suffix: "M", digits: .fixed(2)),
        Step(from: 4, power: 3, suffix: "k", digits: .fixed(1)),
        Step(from: nil, power: 0, suffix: "", digits: .fixedUnlessWhole(1)),
    ])

    /// A count in a sentence: "2.31 M", "12.5 k", "9999" (whole, as counts are).
    public static let spacedCount = UnitScale([
        Step(from: 6, power: 6, suffix: " M", digits: .fixed(2)),
        Step(from: 4, power: 3, suffix: " k", digits: .fixed(1)),
        Step(from: nil, power: 0, suffix: "", digits: .whole),
    ])
}
