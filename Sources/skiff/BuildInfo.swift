import Foundation
import SkiffCore

/// What `skiff --version` reports: the version and how this binary was built, so an operator
/// can tell a debug build or a dynamically linked one (which needs the Swift runtime installed)
/// from the release image's static binary.
enum BuildInfo {
    static var configuration: String {
        #if DEBUG
        return "debug"
        #else
        return "release"
        #endif
    }

    /// Whether the Swift standard library is linked in (`--static-swift-stdlib`): read from the
    /// process's own mappings, since no compile-time flag says so. Read to EOF: procfs files
    /// report size 0, so size-based reads see nothing.
    static var stdlib: String {
        guard let handle = FileHandle(forReadingAtPath: "/proc/self/maps") else { return "unknown" }
        let maps = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        guard !maps.isEmpty else { return "unknown" }
        return maps.contains("libswiftCore.so") ? "shared" : "static"
    }

    static var architecture: String {
        #if arch(x86_64)
        return "x86_64"
        #elseif arch(arm64)
        return "aarch64"
        #else
        return "other"
        #endif
    }

    static var compiler: String {
        #if compiler(>=6.3)
        return "swift-6.3"
        #elseif compiler(>=6.2)
        return "swift-6.2"
        #else
        return "swift-6"
        #endif
    }

    static var flags: String {
        "configuration=\(configuration) swift-stdlib=\(stdlib) arch=\(architecture) compiler=\(compiler)"
    }

    static var versionText: String {
        "\(SkiffCore.version) (\(flags))"
    }
}
