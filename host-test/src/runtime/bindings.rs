//! The WIT world `connector` as wasmtime types: the one `bindgen!` of the
//! host, and the names the rest of the host uses from it.
//!
//! The guest imports only standard WASI, so the `wasi:*` interfaces are the
//! ones `wasmtime-wasi` and `wasmtime-wasi-http` already bind; what is
//! generated here is the connector's own exports.

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "connector",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        },
    });
}

/// The world's exports: records, variants and enums by interface.
pub use self::generated::exports::soar::sentinel::{containment, graph_security, sentinel_connector, types};

/// An instance of the world, and its pre-instantiated form.
pub use self::generated::{Connector, ConnectorPre};
