//! Closed sets the services model as open strings (`modelAsString`): the
//! known values as variants, `Other` for any value added later, read
//! case-insensitively. One macro for incident enums, entity kinds and the rest.

/// Declares an enum Microsoft marks `modelAsString`: known values plus
/// `Other` holding any value the service adds later. Read case-insensitively.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal $(| $alias:literal)*),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum $name { $($variant,)+ Other(String) }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self { $($name::$variant => $text,)+ $name::Other(text) => text }
            }

            pub fn parse(text: &str) -> Self {
                $(if text.eq_ignore_ascii_case($text) $(|| text.eq_ignore_ascii_case($alias))* {
                    return $name::$variant;
                })+
                $name::Other(text.to_owned())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <String as ::serde::Deserialize>::deserialize(deserializer)?;
                Ok($name::parse(&text))
            }
        }
    };
}
pub(crate) use open_enum;
