/// `samples.*`: how the parse step stores samples.pickle.
public struct SamplesSettings: ModuleSettings {
    public static let section = "samples"

    /// `samples.series arrays` stores samples.pickle's series as Python's array.array('d') (8
    /// bytes a value, NaN for None) instead of lists of floats: a day-long run loads in a
    /// fraction of the time and memory. samples.json keeps lists.
    public enum Series: String, CaseIterable, Sendable { case lists, arrays }
    public var series = Series.lists

    public init() {}

    public static var settings: [Setting<SamplesSettings>] { [.choice("series", \.series)] }

    public init(_ config: Config) { self.init(config, module: Self.section) }
}
