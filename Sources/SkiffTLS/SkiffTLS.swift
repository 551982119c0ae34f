/// TLS for Skiff: contexts built from Envoy's TLS config (files, inline, SDS), their rotation,
/// the handshake observer that checks SANs and learns the peer's SPIFFE identity, the
/// ClientHello parser behind `tls_inspector`, and certificate minting for the demo and tests.
