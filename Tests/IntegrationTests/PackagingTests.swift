import Foundation
import Testing

/// What ships: `skiff --version`, the container image recipe, the capture script and the
/// Kubernetes example. The image cannot be built here (no container engine), so these read it.
@Suite(.serialized)
struct PackagingTests {
    static func file(_ path: String) throws -> String {
        try String(contentsOf: InterceptionTests.repoRoot.appendingPathComponent(path), encoding: .utf8)
    }

    @Test func versionReportsTheVersionAndBuildFlags() async throws {
        let skiff = try SpawnedProxy.skiff(["--version"])
        #expect(await skiff.waitForExit(within: .seconds(10)) == 0)
        // The tests run a debug build, linked against the toolchain's Swift runtime.
        #expect(skiff.log.contains("configuration=debug swift-stdlib=shared"), "\(skiff.log)")
        #expect(skiff.log.hasPrefix("0.") || skiff.log.contains(" ("), "\(skiff.log)")
    }

    @Test func theImageShipsTheBinaryTheReleaseScriptBuilds() throws {
        let dockerfile = try Self.file("docker/Dockerfile")
        let script = try Self.file("scripts/build-release.sh")
        #expect(script.contains("-c release") && script.contains("--static-swift-stdlib"))
        #expect(dockerfile.contains("RUN scripts/build-release.sh"), "the image must build with the release script")
        #expect(dockerfile.contains("USER 1337:1337"))
        for port in ["15000", "15001", "15006", "15021", "15090"] {
            #expect(dockerfile.contains(port), "EXPOSE \(port)")
        }
        #expect(dockerfile.contains("COPY config/intercept.yaml"))
    }

    @Test func theKubernetesExampleMatchesTheDrainTime() throws {
        let deployment = try Self.file("docker/k8s/deployment.yaml")
        let grace = deployment.firstMatch(of: /terminationGracePeriodSeconds: (\d+)/).flatMap { Int($0.1) } ?? 0
        let drain = deployment.firstMatch(of: /- --drain-time-s\s*\n\s*- "(\d+)"/).flatMap { Int($0.1) } ?? 0
        let preStop = deployment.firstMatch(of: /"\/bin\/sleep", "(\d+)"/).flatMap { Int($0.1) } ?? 0
        #expect(drain > 0 && preStop > 0, "the sidecar sets --drain-time-s and a preStop sleep")
        #expect(grace > drain + preStop, "the grace period covers preStop and the drain")
        #expect(deployment.contains("NET_ADMIN") && deployment.contains("init-iptables.sh"))
        #expect(deployment.contains("/healthz/ready"))
    }

    @Test func captureScriptDryRunWritesIstioShapedRulesPerFamily() {
        let result = NetworkNamespace.run([
            "sh", InterceptionTests.repoRoot.appendingPathComponent("docker/init-iptables.sh").path, "--dry-run",
            "-x", "10.96.0.0/12,fd00::/8", "-o", "22", "-d", "15021",
        ])
        #expect(result.status == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n").map(String.init)
        #expect(lines.contains("iptables -t nat -A SKIFF_REDIRECT -p tcp -j REDIRECT --to-ports 15001"))
        #expect(lines.contains("iptables -t nat -A SKIFF_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006"))
        #expect(lines.contains("iptables -t nat -A SKIFF_INBOUND -p tcp --dport 15021 -j RETURN"))
        #expect(lines.contains("iptables -t nat -A SKIFF_OUTPUT -m owner --uid-owner 1337 -j RETURN"))
        #expect(lines.contains("iptables -t nat -A SKIFF_OUTPUT -p tcp --dport 22 -j RETURN"))
        #expect(lines.contains("iptables -t nat -A SKIFF_OUTPUT -d 10.96.0.0/12 -j RETURN"))
        #expect(!lines.contains("iptables -t nat -A SKIFF_OUTPUT -d fd00::/8 -j RETURN"), "each CIDR goes to its own family")
        if lines.contains(where: { $0.hasPrefix("ip6tables") }) {
            #expect(lines.contains("ip6tables -t nat -A SKIFF_OUTPUT -d fd00::/8 -j RETURN"))
            #expect(lines.contains("ip6tables -t nat -A SKIFF_OUTPUT -o lo -s ::6/128 -j RETURN"))
        }
        let bad = NetworkNamespace.run(["sh", InterceptionTests.repoRoot.appendingPathComponent("docker/init-iptables.sh").path, "--dry-run", "-p", "abc"])
        #expect(bad.status == 2 && bad.output.contains("not a number"))
    }
}
