import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A network namespace this test creates, joined to the host's namespace by a veth pair:
/// the pod is `podAddress` inside it, the outside world `hostAddress`. Removed by `destroy`
/// (which also removes the veth pair and every rule inside).
final class NetworkNamespace {
    let name: String
    let hostAddress: String
    let podAddress: String
    private let hostLink: String

    /// Whether this machine lets the test create namespaces (root, `ip`, `iptables`): probed
    /// once by creating and deleting one. The reason when not, printed by the tests that skip.
    static let unavailableReason: String? = {
        guard getuid() == 0 else { return "network namespace tests need root (ip netns add); skipped" }
        for tool in ["ip", "iptables", "setpriv"] where run(["sh", "-c", "command -v \(tool)"]).status != 0 {
            return "network namespace tests need \(tool) (scripts/test.sh installs iproute2 and iptables); skipped"
        }
        let probe = "skiff-probe-\(getpid())"
        let added = run(["ip", "netns", "add", probe])
        _ = run(["ip", "netns", "del", probe])
        return added.status == 0 ? nil : "cannot create a network namespace here (\(added.output.trimmingCharacters(in: .whitespacesAndNewlines))); skipped"
    }()

    static var available: Bool {
        if let reason = unavailableReason {
            print("NetworkNamespace: \(reason)")
            return false
        }
        return true
    }

    /// `subnet` is the third octet of 10.213.x.0/24: one per test, so runs do not collide.
    init(subnet: Int) throws {
        let tag = "\(getpid() % 100_000)\(subnet)"
        name = "skiff-t\(tag)"
        hostLink = "skh\(tag)"
        hostAddress = "10.213.\(subnet).1"
        podAddress = "10.213.\(subnet).2"
        let podLink = "skp\(tag)"
        _ = Self.run(["ip", "netns", "del", name])
        _ = Self.run(["ip", "link", "del", hostLink])
        for command in [
            ["ip", "netns", "add", name],
            ["ip", "link", "add", hostLink, "type", "veth", "peer", "name", podLink],
            ["ip", "link", "set", podLink, "netns", name],
            ["ip", "addr", "add", "\(hostAddress)/24", "dev", hostLink],
            ["ip", "link", "set", hostLink, "up"],
            ["ip", "netns", "exec", name, "ip", "addr", "add", "\(podAddress)/24", "dev", podLink],
            ["ip", "netns", "exec", name, "ip", "link", "set", podLink, "up"],
            ["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
        ] {
            let result = Self.run(command)
            guard result.status == 0 else {
                destroy()
                throw TestError("\(command.joined(separator: " ")) failed: \(result.output)")
            }
        }
    }

    /// argv prefix that runs a command inside the namespace.
    var exec: [String] { ["ip", "netns", "exec", name] }

    /// argv prefix that runs a command inside the namespace as the proxy's user (uid/gid 1337).
    var execAsProxy: [String] { exec + ["setpriv", "--reuid", "1337", "--regid", "1337", "--clear-groups"] }

    /// Runs `command` inside the namespace (as root) to completion.
    @discardableResult
    func run(_ command: [String]) -> (status: Int32, output: String) {
        Self.run(exec + command)
    }

    func destroy() {
        _ = Self.run(["ip", "netns", "del", name])
        _ = Self.run(["ip", "link", "del", hostLink])
    }

    /// Runs argv to completion (killed after 30 s), returning its status and combined output.
    @discardableResult
    static func run(_ command: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["timeout", "30"] + command
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        guard (try? process.run()) != nil else { return (127, "cannot run \(command[0])") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        var code = exitStatus(of: process)
        while code == nil {
            usleep(2_000)
            code = exitStatus(of: process)
        }
        return (code ?? 0, String(decoding: data, as: UTF8.self))
    }
}
