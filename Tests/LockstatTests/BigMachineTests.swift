import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules
import LockstatCharts

/// Machines with hundreds of CPUs and thousands of disks: a bounded number of graph files, heat
/// maps that are well-formed, parse linear in devices.
final class BigMachineTests: XCTestCase {
    /// /proc/stat of `cpus` CPUs at `samples` instants, CPU n busy n % of its ticks.
    func stat(cpus: Int, samples: Int) -> [[UInt8]] {
        (0..<samples).map { t in
            var text = "cpu  0 0 0 0 0 0 0 0 0 0\n"
            for c in 0..<cpus {
                let busy = t * (c % 100), idle = t * (100 - c % 100)
                text += "cpu\(c) \(busy) 0 0 \(idle) 0 0 0 0 0 0\n"
            }
            return Array((text + "ctxt 1\nprocesses 1\nprocs_running 1\nprocs_blocked 0\n").utf8)
        }
    }

    /// /proc/diskstats of `disks` whole disks, disk n doing n mod 50 reads per sample.
    func diskstats(disks: Int, samples: Int) -> [[UInt8]] {
        (0..<samples).map { t in
            var text = ""
            for d in 0..<disks {
                let n = t * (d % 50 + 1)
                text += "   8 \(d) sd\(d) \(n) 0 \(n * 8) \(n) 0 0 0 0 0 \(n * 3) \(n) 0 0 0 0 0 0\n"
            }
            return Array(text.utf8)
        }
    }

    func wellFormed(_ dir: String, _ files: [String]) throws {
        let check = "import sys, xml.etree.ElementTree as E\nfor f in sys.argv[1:]: E.parse(f)\nprint('ok')"
        let r = try shell(["python3", "-c", check] + files.map { dir + "/" + $0 })
        XCTAssertEqual(r.out, "ok\n", r.err)
    }

    func testManyCPUsGiveAHeatMapAndABoundedSetOfFiles() throws {
        for cpus in [256, 4096] {
            let log = try rawLog(snapshots: stat(cpus: cpus, samples: 6), times: [0, 1, 2, 3, 4, 5])
            let model = try StatModule().parse(log, config: Config(modules: ["stat"])).model
            let dir = temporaryDirectory()
            let files = try StatModule().plot(model, into: TestDirectory(dir))
            XCTAssertEqual(files.sorted(), ["stat_cpu_all.svg", "stat_cpu_busiest.svg", "stat_cpu_heatmap.svg", "stat_ctxt_intr.svg",
                                            "stat_forks.svg", "stat_procs.svg"], "\(cpus) CPUs")
            try wellFormed(dir, files)
            let heat = try String(contentsOfFile: dir + "/stat_cpu_heatmap.svg", encoding: .utf8)
            XCTAssertTrue(heat.contains(">busy (%)<") && heat.contains(">CPU<"), "the colour scale and rows are labelled")
            XCTAssertLessThanOrEqual(heat.components(separatedBy: "<rect").count - 1, HeatMap.maxRows * HeatMap.maxColumns + 22)
            // cpu99 (busy 99 %) leads the busiest chart.
            let busiest = try String(contentsOfFile: dir + "/stat_cpu_busiest.svg", encoding: .utf8)
            XCTAssertTrue(busiest.contains(">cpu99<") || busiest.contains("cpu99"), "the busiest CPU is named")
        }
        // A small machine keeps its per-CPU charts.
        let small = try StatModule().parse(try rawLog(snapshots: stat(cpus: 4, samples: 3), times: [0, 1, 2]), config: Config(modules: ["stat"])).model
        let files = try StatModule().plot(small, into: TestDirectory(temporaryDirectory()))
        XCTAssertTrue(files.contains("stat_cpu_cpu3.svg") && !files.contains("stat_cpu_heatmap.svg"))
    }

    func testManyDisksGiveHeatMapsAndParseLinearly() throws {
        func parse(_ disks: Int) throws -> (any ModuleModel, Double) {
            let log = try rawLog(snapshots: diskstats(disks: disks, samples: 5), times: [0, 1, 2, 3, 4])
            let t0 = Date()
            let model = try DiskstatsModule().parse(log, config: Config(modules: ["diskstats"])).model
            return (model, Date().timeIntervalSince(t0))
        }
        let (data, _) = try parse(1000)
        let dir = temporaryDirectory()
        let files = try DiskstatsModule().plot(data, into: TestDirectory(dir))
        XCTAssertEqual(files.sorted(), ["diskstats_busiest_throughput.svg", "diskstats_busiest_util.svg",
                                        "diskstats_heatmap_throughput.svg", "diskstats_heatmap_util.svg"])
        try wellFormed(dir, files)
        // Linear: twice the disks, about twice the time (a search per disk made it quadratic).
        _ = try parse(10_000)
        let (_, small) = try parse(20_000), (_, large) = try parse(40_000)
        XCTAssertLessThan(large / small, 3.2, "20,000 disks \(small) s, 40,000 disks \(large) s")
    }
}
