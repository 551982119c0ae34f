import Logging
import ServiceLifecycle
import SkiffServer

/// Runs the server under swift-service-lifecycle: SIGTERM and SIGINT start a graceful shutdown
/// (stop accepting, drain in-flight requests), and `POST /quitquitquit` ends the run too.
struct ServerService: Service {
    let server: SkiffServer

    func run() async throws {
        await withGracefulShutdownHandler {
            await server.run()
        } onGracefulShutdown: {
            server.requestQuit()
        }
    }

    static func runUntilSignalled(_ server: SkiffServer, logger: Logger) async throws {
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: ServerService(server: server), successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}
