//! The WIT world `connector` as Rust types and traits: the one `generate!` of
//! the component. `mod.rs` implements the exports on `Component` and hands it
//! to the `export!` macro generated here.

wit_bindgen::generate!({
    world: "connector",
    path: "wit",
    // The wasi:http imports are used through the `wasip2` crate's bindings.
    with: {
        "wasi:http/types@0.2.12": wasip2::http::types,
        "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
        "wasi:io/error@0.2.12": wasip2::io::error,
        "wasi:io/poll@0.2.12": wasip2::io::poll,
        "wasi:io/streams@0.2.12": wasip2::io::streams,
        "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
    },
    // `export!` is invoked from `mod.rs`, so it names this module's types by path.
    default_bindings_module: "crate::component::bindings",
});
