/// mpstat's CPU percentages over one interval, with sysstat's exact rules (mpstat.c
/// write_cpu_stats / rd_stats.c get_per_cpu_interval):
/// - %usr = Δ(user − guest), %nice = Δ(nice − guest_nice): user and nice already include guest time;
/// - the interval is the sum of all fields' deltas (guest counted once), per CPU from its own ticks;
/// - idle that went backwards means the CPU came back from offline: idle and iowait restart
///   from 0 (sysstat resets the previous value). iowait alone going backwards is the kernel's
///   "unreliable, may decrease" iowait (proc.rst), not a restart: it contributes 0 there, where
///   sysstat would count the whole counter as one interval's iowait;
/// - any other counter that went backwards contributes 0;
/// - a CPU with no ticks in the interval (offline, tickless) shows 100 % idle, as mpstat does.
enum CPUUtilization {
    static let fields = ["usr", "nice", "sys", "iowait", "irq", "soft", "steal", "guest", "gnice", "idle"]

    /// Percentages in `fields` order.
    static func percentages(previous p: CPUTicks, current c: CPUTicks) -> [Double] {
        let restarted = c.idle < p.idle
        let idle = restarted ? Double(c.idle) : Double(c.idle - p.idle)
        let iowait = restarted && c.iowait < p.iowait ? Double(c.iowait) : delta(c.iowait, p.iowait)
        let usr = delta(c.user &- min(c.guest, c.user), p.user &- min(p.guest, p.user))
        let nice = delta(c.nice &- min(c.guestNice, c.nice), p.nice &- min(p.guestNice, p.nice))
        let ticks = [usr, nice, delta(c.system, p.system), iowait, delta(c.irq, p.irq), delta(c.softirq, p.softirq),
                     delta(c.steal, p.steal), delta(c.guest, p.guest), delta(c.guestNice, p.guestNice), idle]
        let total = ticks.reduce(0, +)
        guard total > 0 else { return fields.map { $0 == "idle" ? 100 : 0 } }
        return ticks.map { $0 / total * 100 }
    }
}
