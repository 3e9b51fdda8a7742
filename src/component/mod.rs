//! The WIT world `connector` bound to the core. One file per WIT interface,
//! plus the one module that owns `wasi:http`.

/// Open enums have the same case names on both sides; only the paths differ.
macro_rules! open_enum_to_wit {
    ($cm:ident :: $core:ident => $wm:ident :: $wit:ident { $($case:ident),+ $(,)? }) => {
        impl From<$cm::$core> for $wm::$wit {
            fn from(value: $cm::$core) -> Self {
                match value {
                    $($cm::$core::$case => $wm::$wit::$case,)+
                    $cm::$core::Other(text) => $wm::$wit::Other(text),
                }
            }
        }

        impl From<$wm::$wit> for $cm::$core {
            fn from(value: $wm::$wit) -> Self {
                match value {
                    $($wm::$wit::$case => $cm::$core::$case,)+
                    $wm::$wit::Other(text) => $cm::$core::Other(text),
                }
            }
        }
    };
}

mod containment;
mod graph_security;
mod sentinel_connector;
mod transport;
mod types;

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
});

struct Component;

export!(Component);
