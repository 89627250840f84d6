import Foundation

/// A linear scale from data to pixels, with "nice" tick values (1, 2, 5 × 10^k).
struct Scale {
    let lower: Double
    let upper: Double
    let pixelLow: Double
    let pixelHigh: Double

    func pixel(_ v: Double) -> Double {
        guard upper > lower else { return pixelLow }
        return pixelLow + (v - lower) / (upper - lower) * (pixelHigh - pixelLow)
    }

    /// A scale from `lower` to at least `upper`, the top rounded up to a tick.
    static func nice(lower: Double, upper: Double, pixels: (Double, Double), roundTop: Bool = true) -> Scale {
        var hi = upper
        if hi <= lower { hi = lower + 1 }
        if roundTop {
            let step = niceStep((hi - lower) / 5)
            hi = lower + (((hi - lower) / step).rounded(.up)) * step
        }
        return Scale(lower: lower, upper: hi, pixelLow: pixels.0, pixelHigh: pixels.1)
    }

    var ticks: [Double] {
        let step = Scale.niceStep((upper - lower) / 5)
        var out = [Double]()
        var v = (lower / step).rounded(.up) * step
        while v <= upper + step * 1e-9 {
            out.append(v)
            v += step
        }
        return out
    }

    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let magnitude = pow(10, floor(log10(raw)))
        let m = raw / magnitude
        return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * magnitude
    }
}

/// Tick labels without float noise: 0.1 not 0.10000000000000001, 1.5k for large values.
func tickLabel(_ v: Double) -> String { UnitScale.tick.text(v) }
