/// How one priority's traffic splits between its healthy and degraded hosts, or whether the
/// cluster is in panic (Envoy's priority-load arithmetic for a single priority).
///
/// Pure, so the numbers are tested without sockets. Shares use Envoy's overprovisioning factor
/// of 1.4: healthy hosts take `min(100, 1.4 × healthy%)` of the traffic, degraded hosts
/// `min(rest, 1.4 × degraded%)`, and when the two do not reach 100 they are scaled up to it.
/// Excluded hosts (EDS DRAINING) do not count towards the size at all.
public enum HostSetLoad: Sendable, Equatable {
    /// Too few usable hosts (`healthy + degraded` under the panic threshold): every
    /// non-excluded host takes traffic (`lb_healthy_panic`).
    case panic
    /// Of `healthy + degraded` parts of traffic, `healthy` go to healthy hosts.
    case split(healthy: Int, degraded: Int)

    static let overprovisioningFactor = 140

    public static func compute(healthy: Int, degraded: Int, total: Int, panicThreshold: Int) -> HostSetLoad {
        guard total > 0, (healthy + degraded) * 100 >= panicThreshold * total, healthy + degraded > 0 else {
            return .panic
        }
        let healthyLoad = min(100, overprovisioningFactor * healthy / total)
        let degradedLoad = min(100 - healthyLoad, overprovisioningFactor * degraded / total)
        return .split(healthy: healthyLoad, degraded: degradedLoad)
    }
}
