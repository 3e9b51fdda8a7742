//! The WIT world `connector` bound to the core. One file per WIT interface,
//! plus the one module that owns `wasi:http`; the bindings `wit-bindgen`
//! generates for the world are in `bindings.rs`.

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

mod analytics_rules;
mod bindings;
mod containment;
mod details;
mod graph_security;
mod sentinel_connector;
mod threat_intelligence;
mod transport;
mod types;
mod watchlists;

/// The exports' types, which every file here converts to and from.
use bindings::exports;

struct Component;

bindings::export!(Component);
