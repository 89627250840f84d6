/// mpstat's and iostat's CPU percentages, with sysstat's exact rules (sysstat master, commit
/// c1eb661a; the same in 12.6, Debian's, except where docs/stat.md says otherwise).
enum CPUUtilization {
    static let fields = ["usr", "nice", "sys", "iowait", "irq", "soft", "steal", "guest", "gnice", "idle"]
    /// iostat's avg-cpu columns (%system includes hard and soft interrupts).
    static let avgCPUFields = ["user", "nice", "system", "iowait", "steal", "idle"]
    /// A previous value this close to 2^64 is taken for a counter about to wrap, not a restart.
    static let nearWrap = UInt64.max - 0x7ffff

    /// rd_stats.c `get_per_cpu_interval`: the interval of one CPU in ticks, the sum of the
    /// deltas of user, nice, system, iowait, idle, steal, irq and softirq (guest and guest_nice
    /// are inside user and nice), each 0 when it went backwards. It corrects `p` as sysstat does:
    /// - idle went backwards (the CPU came back online; idle restarts from 0): p.idle = 0;
    /// - iowait went backwards while idle rose: the kernel moved waiting time from iowait to
    ///   idle (iowait is "unreliable, may decrease", proc.rst): p.iowait = c.iowait, so the
    ///   interval's iowait is 0; iowait went backwards and idle did not rise: a restart,
    ///   p.iowait = 0, so the interval's iowait is the whole counter;
    /// - guest above user (or guest_nice above nice) by a few ticks: the difference is added
    ///   to the interval (ishift).
    static func interval(current c: CPUTicks, previous p: inout CPUTicks) -> UInt64 {
        var ishift: UInt64 = 0
        if c.user >= p.user && (c.user &- c.guest) < (p.user &- p.guest) {
            ishift &+= (p.user &- p.guest) &- (c.user &- c.guest)
        }
        if c.nice >= p.nice && (c.nice &- c.guestNice) < (p.nice &- p.guestNice) {
            ishift &+= (p.nice &- p.guestNice) &- (c.nice &- c.guestNice)
        }
        if c.iowait < p.iowait && p.iowait < nearWrap {
            p.iowait = c.idle > p.idle || p.idle >= nearWrap ? c.iowait : 0
        }
        if c.idle < p.idle && p.idle < nearWrap { p.idle = 0 }
        func d(_ prev: UInt64, _ cur: UInt64) -> UInt64 { cur > prev ? cur - prev : 0 }
        return d(p.user, c.user) &+ d(p.nice, c.nice) &+ d(p.system, c.system) &+ d(p.iowait, c.iowait)
            &+ d(p.idle, c.idle) &+ d(p.steal, c.steal) &+ d(p.irq, c.irq) &+ d(p.softirq, c.softirq) &+ ishift
    }

    /// mpstat.c `write_plain_cpu_stats`: percentages in `fields` order over `interval` ticks,
    /// from values `p` already corrected by `interval(current:previous:)`. Each is common.c
    /// `ll_sp_value`: 0 when the counter went backwards. No ticks at all: 100 % idle (a
    /// tickless CPU, as mpstat prints it).
    static func percentages(previous p: CPUTicks, current c: CPUTicks, interval: UInt64) -> [Double] {
        guard interval > 0 else { return fields.map { $0 == "idle" ? 100 : 0 } }
        func share(_ prev: UInt64, _ cur: UInt64) -> Double {
            cur < prev ? 0 : Double(cur &- prev) / Double(interval) * 100
        }
        return [
            share(p.user &- p.guest, c.user &- c.guest), share(p.nice &- p.guestNice, c.nice &- c.guestNice),
            share(p.system, c.system), share(p.iowait, c.iowait), share(p.irq, c.irq), share(p.softirq, c.softirq),
            share(p.steal, c.steal), share(p.guest, c.guest), share(p.guestNice, c.guestNice), share(p.idle, c.idle),
        ]
    }

    /// iostat.c `write_plain_cpu_stat` (avg-cpu) on the kernel's total `cpu` line: the interval is
    /// the change of the line's total ticks (common.c `get_interval`: unsigned, 1 when 0), with no
    /// correction of counters that went backwards; each value `ll_sp_value`.
    static func avgCPU(previous p: CPUTicks, current c: CPUTicks) -> [Double] {
        let total = { (t: CPUTicks) in
            t.user &+ t.nice &+ t.system &+ t.idle &+ t.iowait &+ t.irq &+ t.steal &+ t.softirq
        }
        var interval = total(c) &- total(p)
        if interval == 0 { interval = 1 }
        func share(_ prev: UInt64, _ cur: UInt64) -> Double {
            cur < prev ? 0 : Double(cur &- prev) / Double(interval) * 100
        }
        return [
            share(p.user, c.user), share(p.nice, c.nice),
            share(p.system &+ p.softirq &+ p.irq, c.system &+ c.softirq &+ c.irq),
            share(p.iowait, c.iowait), share(p.steal, c.steal), share(p.idle, c.idle),
        ]
    }
}

extension CPUTicks {
    /// mpstat.c `add_cpu_stats`.
    mutating func add(_ o: CPUTicks) {
        user &+= o.user
        nice &+= o.nice
        system &+= o.system
        idle &+= o.idle
        iowait &+= o.iowait
        irq &+= o.irq
        softirq &+= o.softirq
        steal &+= o.steal
        guest &+= o.guest
        guestNice &+= o.guestNice
    }
}
