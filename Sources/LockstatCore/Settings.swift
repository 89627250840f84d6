/// One `<module>.<key>` setting of a settings struct: the key, the values the config parser
/// accepts (its range, for the error naming the line), and where the value goes in the struct.
/// The key's default is the struct's property initializer: default, range and parse are one line.
public struct Setting<Settings> {
    public let key: String
    public let accepts: ConfigValue
    /// Stores a value the config parser accepted (anything else keeps the default).
    let store: (inout Settings, String) -> Void
    /// Stores every value of a key that takes several (`words`); nil: `store` takes the first.
    var storeAll: ((inout Settings, [String]) -> Void)? = nil

    /// One of an enum's words, offered in the order of its cases.
    public static func choice<Choice: RawRepresentable & CaseIterable>(
        _ key: String, _ path: WritableKeyPath<Settings, Choice>
    ) -> Setting where Choice.RawValue == String {
        Setting(key: key, accepts: .choice(Choice.allCases.map(\.rawValue))) { settings, text in
            if let choice = Choice(rawValue: text) { settings[keyPath: path] = choice }
        }
    }

    /// `yes` or `no`.
    public static func yesNo(_ key: String, _ path: WritableKeyPath<Settings, Bool>) -> Setting {
        Setting(key: key, accepts: .choice(["yes", "no"])) { settings, text in
            if text == "yes" || text == "no" { settings[keyPath: path] = text == "yes" }
        }
    }

    /// A whole number in `range`.
    public static func integer(
        _ key: String, _ path: WritableKeyPath<Settings, Int>, _ range: ClosedRange<Int>
    ) -> Setting {
        Setting(key: key, accepts: .integer(range)) { settings, text in
            if let value = Int(text) { settings[keyPath: path] = value }
        }
    }

    /// Seconds in `range`.
    public static func seconds(
        _ key: String, _ path: WritableKeyPath<Settings, Double>, _ range: ClosedRange<Double>
    ) -> Setting {
        Setting(key: key, accepts: .seconds(range)) { settings, text in
            if let value = Double(text) { settings[keyPath: path] = value }
        }
    }

    /// One or more words (any when `allowed` is nil), all kept.
    public static func words(
        _ key: String, _ path: WritableKeyPath<Settings, [String]>, _ allowed: [String]?
    ) -> Setting {
        Setting(key: key, accepts: .words(allowed), store: { _, _ in }) { settings, values in
            settings[keyPath: path] = values
        }
    }

    /// `<module>.top`: the rows that get a series of their own (ConfigValue.topRows).
    public static func top(_ path: WritableKeyPath<Settings, Int>) -> Setting {
        Setting(key: "top", accepts: .topRows) { settings, text in
            if let value = Int(text) { settings[keyPath: path] = value }
        }
    }
}

/// A module's (or step's) own settings: a struct whose properties hold the defaults, read once
/// from a config by its key table. The table is also what the config parser checks keys against.
public protocol ModuleSettings {
    /// Every setting at its default.
    init()
    static var settings: [Setting<Self>] { get }
}

extension ModuleSettings {
    /// The keys `<module>.<key>` takes and their values, for the config parser (`configKeys`).
    public static var configKeys: [String: ConfigValue] {
        Dictionary(uniqueKeysWithValues: settings.map { ($0.key, $0.accepts) })
    }

    /// `module`'s settings in `config`: the value it sets for each key, else the key's default.
    public init(_ config: Config, module: String) {
        self.init()
        for setting in Self.settings {
            guard let values = config.setting(module, setting.key) else { continue }
            if let storeAll = setting.storeAll {
                storeAll(&self, values)
            } else if let text = values.first {
                setting.store(&self, text)
            }
        }
    }
}

/// Rows with a series of their own when `<module>.top` is not set.
public let defaultTopRows = 10
