//! One declaration per numeric setting.
//!
//! A setting used to be written five times: the clap flag with a
//! hand-typed `[default: ...]`, the config-file key, the settings field, its
//! default constant and its range check. [`settings_section!`] takes one
//! line per setting (name, type, default, range, dashed alias, environment
//! variable, help) and writes all of it: a `clap::Args` struct flattened into
//! the command line, an all-`Option` struct for the file's section, the
//! final settings struct with its `Default`, and the layered merge that
//! names the flag or file key of a value out of range. The help shows the
//! default and the range from the same tokens the code uses, so they
//! cannot drift apart.
//!
//! Sections declared here: `graphql` (query limits), `http` (transport
//! limits), `rate_limit` and `writer`.

/// Declares a section of numeric settings; see the module documentation.
///
/// Each entry:
/// `name: type = default, min..=max, "section.dashed-alias", "DUNDER_ENV", "VALUE_NAME", "help";`.
/// The flag is `--section.name`; the file key is `name` under `section:`.
macro_rules! settings_section {
    (
        $(#[doc = $section_doc:literal])*
        section $key:literal, $Settings:ident, $Flags:ident, $File:ident;
        $(
            $field:ident: $ty:ty = $default:literal, $min:literal ..= $max:literal,
                $alias:literal, $env:literal, $value_name:literal, $doc:literal;
        )+
    ) => {
        $(#[doc = $section_doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $Settings {
            $(
                #[doc = $doc]
                pub $field: $ty,
            )+
        }

        impl Default for $Settings {
            fn default() -> Self {
                $Settings {
                    $($field: $default,)+
                }
            }
        }

        impl $Settings {
            /// Every setting of the section: its flag name (without `--`),
            /// default and range, as the help prints them.
            #[allow(dead_code)]
            pub const DECLARED: &'static [(&'static str, &'static str, &'static str)] = &[
                $((
                    concat!($key, ".", stringify!($field)),
                    stringify!($default),
                    concat!(stringify!($min), " to ", stringify!($max)),
                ),)+
            ];

            /// The section from the flag and file layers, defaults filling
            /// the rest; a value out of range names its flag or key.
            pub(super) fn merge(
                flags: &$Flags,
                file: &$File,
                invalid: &impl Fn(super::Origin, &'static str, String) -> super::ConfigError,
            ) -> Result<Self, super::ConfigError> {
                Ok($Settings {
                    $(
                        $field: match super::layer(flags.$field, file.$field) {
                            None => $default,
                            Some((value, _)) if ($min..=$max).contains(&value) => value,
                            Some((value, origin)) => {
                                return Err(invalid(
                                    origin,
                                    concat!($key, ".", stringify!($field)),
                                    format!("must be between {} and {}, got {}", $min, $max, value),
                                ))
                            }
                        },
                    )+
                })
            }
        }

        #[doc = concat!("The `--", $key, ".*` flags; `None` where neither the flag nor its variable was given.")]
        #[derive(clap::Args, Debug, Default, Clone)]
        pub struct $Flags {
            $(
                #[arg(
                    long = concat!($key, ".", stringify!($field)),
                    alias = $alias,
                    env = $env,
                    global = true,
                    value_name = $value_name,
                    help = concat!(
                        $doc, " (", stringify!($min), " to ", stringify!($max),
                        ") [default: ", stringify!($default), "]"
                    )
                )]
                pub $field: Option<$ty>,
            )+
        }

        #[doc = concat!("The `", $key, ":` section of the config file.")]
        #[derive(Debug, Default, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct $File {
            $(pub(crate) $field: Option<$ty>,)+
        }
    };
}

pub(crate) use settings_section;
