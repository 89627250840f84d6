/// Stable colours: the same series name gets the same colour in every graph and every run.
/// Well-known names have fixed colours (mpstat's fields, read/write); others hash (FNV-1a)
/// into a palette of distinguishable colours (Tableau 20 order, readable on white).
public enum Palette {
    static let colors = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
        "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
        "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
    ]

    static let fixed: [String: String] = [
        "usr": "#2ca02c", "nice": "#98df8a", "sys": "#d62728", "iowait": "#1f77b4", "irq": "#ff7f0e",
        "soft": "#ffbb78", "steal": "#7f7f7f", "guest": "#9467bd", "gnice": "#c5b0d5", "idle": "#f0f0f0",
        "others": "#c7c7c7",
    ]

    public static func color(for name: String) -> String {
        if let c = fixed[name] { return c }
        return colors[Int(fnv1a(name) % UInt32(colors.count))]
    }

    /// FNV-1a, 32 bits: a stable hash of a name (Swift's own is seeded per process).
    static func fnv1a(_ name: String) -> UInt32 {
        var hash: UInt32 = 2_166_136_261
        for byte in name.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return hash
    }
}
