/// `<module>.scope`: the whole machine, or the measured program's processes only.
public enum SamplingScope: String, CaseIterable, Sendable { case system, program }
