/// SkiffXDS: the aggregated discovery service (ADS) client that keeps Skiff's configuration in
/// step with a control plane written for Envoy.
internal import GRPCCore
internal import GRPCNIOTransportHTTP2Posix
internal import GRPCProtobuf
