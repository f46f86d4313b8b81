//! One declaration per setting.
//!
//! A setting used to be written five times: the clap flag with a
//! hand-typed `[default: ...]`, the config-file key, the settings field, its
//! default and its range check. [`declare_settings!`] takes one entry per
//! setting (flag name, field, type, default, range or check, aliases,
//! environment variable, help) and writes all of it: a `clap::Args` struct
//! of `Option`s to flatten into the command line, the settings struct with
//! its `Default`, the layered merge over the flag and file layers that names
//! the flag, variable or file key of a bad value, and [`Declared`]
//! descriptions from which the help, the README's table and the tests are
//! made. The help shows the default and the range from the same tokens the
//! code uses, so they cannot drift apart.
//!
//! [`settings_section!`] is the short form for a section of numeric
//! settings under one dotted prefix (`graphql`, `http`, `rate_limit`,
//! `writer`): the flag is `--section.name` and the file key is `name` under
//! `section:`. The top-level settings (`port`, `tls.*`, `cockroach.*`,
//! `live.*`...) use the long form, in `flags.rs`.
//!
//! What a type needs from the command line and the file (its clap parser,
//! whether it is a Go-style boolean, how its default is shown) is the
//! [`SettingValue`] trait, so that one macro serves numbers, booleans,
//! enums, paths and strings alike.

use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;

use clap::builder::{EnumValueParser, ValueParser};
use serde::Deserialize;

use super::{AuthMode, DeliveryPriority, JwtAlgorithm, LogLevel, RelayMode};

/// One setting as declared: what the help, the README's settings table and
/// the tests show of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// The flag name without `--`; also the dotted file key.
    pub name: &'static str,
    /// Other spellings of the flag; those without a dash are accepted as
    /// file keys too (former names, such as `live.max_subscriptions`).
    pub aliases: &'static [&'static str],
    /// The `DUNDER_*` environment variable.
    pub env: &'static str,
    /// The default as the command line would spell it; `None` where the
    /// setting is simply unset by default.
    pub default: Option<String>,
    /// The accepted range, as `(min, max)`.
    pub range: Option<(&'static str, &'static str)>,
    /// The accepted values of a setting that has a few named ones.
    pub accepted: Option<String>,
    /// What the help calls the value (`MS`, `PATH`...).
    pub value_name: &'static str,
    /// One line saying what the setting does.
    pub help: &'static str,
}

impl Declared {
    /// The help line clap prints, generated from the declaration.
    pub fn help_text(&self) -> String {
        let mut text = self.help.to_owned();
        if let Some((min, max)) = self.range {
            text.push_str(&format!(" ({min} to {max})"));
        }
        if let Some(default) = &self.default {
            text.push_str(&format!(" [default: {default}]"));
        }
        text
    }
}

/// The help of one declared setting (for the generated `#[arg(help)]`).
pub fn help_text(
    help: &'static str,
    range: Option<(&'static str, &'static str)>,
    default: Option<String>,
) -> String {
    Declared {
        name: "",
        aliases: &[],
        env: "",
        default,
        range,
        accepted: None,
        value_name: "",
        help,
    }
    .help_text()
}

/// A type a setting may have: how clap parses it, how the config file gives
/// it, and how its default is shown.
pub trait SettingValue: Clone + Send + Sync + 'static {
    /// The parser of a flag's or variable's text.
    fn value_parser() -> ValueParser;
    /// How many values the flag takes: booleans may stand alone.
    const NUM_ARGS: RangeInclusive<usize> = 1..=1;
    /// Booleans need `--flag=value`: as in Go, `--use_tls false` does not
    /// give `false` to `--use_tls`.
    const REQUIRE_EQUALS: bool = false;
    /// The value of a flag given without one.
    const MISSING: Option<&'static str> = None;
    /// The value from the config file's YAML.
    fn from_file(value: serde_norway::Value) -> Result<Self, String>;
    /// The value as the command line would spell it.
    fn show(&self) -> String;
    /// The values accepted, for a type with a few named ones.
    fn accepted() -> Option<String> {
        None
    }
}

/// Types that serde reads from the file, `Display` shows and clap's own
/// parser for the type reads from the command line.
macro_rules! plain_setting_value {
    ($($ty:ty),+) => {
        $(
            impl SettingValue for $ty {
                fn value_parser() -> ValueParser {
                    clap::value_parser!($ty).into()
                }

                fn from_file(value: serde_norway::Value) -> Result<Self, String> {
                    <$ty>::deserialize(value).map_err(|e| e.to_string())
                }

                fn show(&self) -> String {
                    self.to_string()
                }
            }
        )+
    };
}

plain_setting_value!(u16, u32, u64, usize, IpAddr, String);

impl SettingValue for PathBuf {
    fn value_parser() -> ValueParser {
        ValueParser::path_buf()
    }

    fn from_file(value: serde_norway::Value) -> Result<Self, String> {
        PathBuf::deserialize(value).map_err(|e| e.to_string())
    }

    fn show(&self) -> String {
        self.display().to_string()
    }
}

/// The enums: clap's value enum on the command line (any case), the
/// lowercase names in the file.
macro_rules! enum_setting_value {
    ($($ty:ty),+) => {
        $(
            impl SettingValue for $ty {
                fn value_parser() -> ValueParser {
                    EnumValueParser::<$ty>::new().into()
                }

                fn from_file(value: serde_norway::Value) -> Result<Self, String> {
                    <$ty>::deserialize(value).map_err(|e| e.to_string())
                }

                fn show(&self) -> String {
                    clap::ValueEnum::to_possible_value(self)
                        .map(|value| value.get_name().to_owned())
                        .unwrap_or_default()
                }

                fn accepted() -> Option<String> {
                    let names: Vec<String> = <$ty as clap::ValueEnum>::value_variants()
                        .iter()
                        .map(|value| value.show())
                        .collect();
                    Some(names.join(", "))
                }
            }
        )+
    };
}

enum_setting_value!(
    LogLevel,
    RelayMode,
    DeliveryPriority,
    AuthMode,
    JwtAlgorithm
);

/// Booleans as Go's flag package read them: `--use_tls`, `--use_tls=false`;
/// the file accepts YAML booleans and the same words as the flags.
impl SettingValue for bool {
    fn value_parser() -> ValueParser {
        ValueParser::new(parse_bool)
    }
    const NUM_ARGS: RangeInclusive<usize> = 0..=1;
    const REQUIRE_EQUALS: bool = true;
    const MISSING: Option<&'static str> = Some("true");

    /// serde_norway follows YAML 1.2, where `yes` is a string, but config
    /// files written for the Go service (YAML 1.1) may use it.
    fn from_file(value: serde_norway::Value) -> Result<Self, String> {
        use serde_norway::Value;
        const EXPECTED: &str = "expected a boolean (true/false, yes/no or 1/0)";
        match value {
            Value::Bool(value) => Ok(value),
            Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
            Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
            Value::String(text) => {
                parse_bool(&text).map_err(|_| format!("invalid value: string {text:?}, {EXPECTED}"))
            }
            other => Err(format!(
                "invalid value: {}, {EXPECTED}",
                serde_norway::to_string(&other)
                    .unwrap_or_default()
                    .trim_end()
            )),
        }
    }

    fn show(&self) -> String {
        self.to_string()
    }

    fn accepted() -> Option<String> {
        Some("true, false (also 1/0, yes/no)".to_owned())
    }
}

/// Parses a boolean the way operators wrote them for the Go service
/// (`strconv.ParseBool` plus yes/no), case-insensitively.
pub fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "1" | "yes" | "y" | "on" => Ok(true),
        "false" | "f" | "0" | "no" | "n" | "off" => Ok(false),
        _ => Err(format!(
            "'{value}' is not a boolean (use true/false, 1/0 or yes/no)"
        )),
    }
}

/// The aliases of a declared flag, for `#[arg(aliases)]` (which cannot
/// infer the type of an empty list).
pub fn aliases(names: &'static [&'static str]) -> impl Iterator<Item = &'static str> {
    names.iter().copied()
}

/// Declares settings; see the module documentation.
///
/// ```text
/// declare_settings! {
///     /// docs and derives of the settings struct
///     values Settings, flags Flags;
///     extra { more fields of the flags struct, verbatim }   (optional)
///     ["flag.name"] field: Type = default, range min..=max, check path,
///         aliases ["flag.other-name"], env "DUNDER_FLAG_NAME", value "VALUE_NAME",
///         "help";
/// }
/// ```
///
/// `= default`, `range` and `check` are each optional. Without a default
/// the field is an `Option`. `check` is a `fn(&Type) -> Result<(), String>`
/// run on the winning value, like the range.
macro_rules! declare_settings {
    (@type $ty:ty, $default:expr) => { $ty };
    (@type $ty:ty) => { Option<$ty> };
    (@default $default:expr) => { $default };
    (@default) => { None };
    (@show $ty:ty, $default:expr) => {
        Some(<$ty as $crate::config::section::SettingValue>::show(&$default))
    };
    (@show $ty:ty) => { None };
    (@range $min:literal, $max:literal) => { Some((stringify!($min), stringify!($max))) };
    (@range) => { None };
    (@resolve $value:ident, $default:expr) => {
        match $value {
            Some((value, _)) => value,
            None => $default,
        }
    };
    (@resolve $value:ident) => { $value.map(|(value, _)| value) };
    (
        $(#[$meta:meta])*
        values $Values:ident, flags $Flags:ident;
        $(extra { $($extra:tt)* })?
        $(
            [$name:expr] $field:ident: $ty:ty $(= $default:expr)?
                $(, range $min:literal ..= $max:literal)? $(, check $check:path)?,
                aliases [$($alias:expr),*], env $env:literal, value $value_name:literal,
                $doc:literal;
        )+
    ) => {
        $(#[$meta])*
        pub struct $Values {
            $(
                #[doc = $doc]
                pub $field: $crate::config::section::declare_settings!(@type $ty $(, $default)?),
            )+
        }

        impl Default for $Values {
            fn default() -> Self {
                $Values {
                    $($field: $crate::config::section::declare_settings!(@default $($default)?),)+
                }
            }
        }

        impl $Values {
            /// Every setting declared here, in order.
            pub fn declared() -> Vec<$crate::config::section::Declared> {
                vec![$(
                    $crate::config::section::Declared {
                        name: $name,
                        aliases: &[$($alias),*],
                        env: $env,
                        default: $crate::config::section::declare_settings!(@show $ty $(, $default)?),
                        range: $crate::config::section::declare_settings!(@range $($min, $max)?),
                        accepted: <$ty as $crate::config::section::SettingValue>::accepted(),
                        value_name: $value_name,
                        help: $doc,
                    },
                )+]
            }

            /// The settings from the flag and file layers, defaults filling
            /// the rest; a value out of range (or refused by its check)
            /// names its flag, variable or file key through `invalid`.
            pub(crate) fn merge(
                flags: &$Flags,
                file: &$crate::config::file::FileLayer,
                invalid: &dyn Fn(
                    $crate::config::Origin,
                    &'static str,
                    String,
                ) -> $crate::config::ConfigError,
            ) -> Result<Self, $crate::config::ConfigError> {
                Ok($Values {
                    $(
                        $field: {
                            let value: Option<($ty, $crate::config::Origin)> = match &flags.$field {
                                Some(value) => Some((value.clone(), $crate::config::Origin::Flag)),
                                None => file
                                    .get::<$ty>($name, &[$($alias),*])?
                                    .map(|value| (value, $crate::config::Origin::File)),
                            };
                            #[allow(unused_variables)]
                            if let Some((value, origin)) = &value {
                                $(
                                    if !($min..=$max).contains(value) {
                                        return Err(invalid(
                                            *origin,
                                            $name,
                                            format!("must be between {} and {}, got {}", $min, $max, value),
                                        ));
                                    }
                                )?
                                $(
                                    $check(value).map_err(|reason| invalid(*origin, $name, reason))?;
                                )?
                            }
                            $crate::config::section::declare_settings!(@resolve value $(, $default)?)
                        },
                    )+
                })
            }
        }

        #[doc = concat!("The flags of [`", stringify!($Values), "`]; `None` where neither the flag nor its variable was given.")]
        #[derive(clap::Args, Debug, Default, Clone)]
        pub struct $Flags {
            $(
                #[arg(
                    long = $name,
                    aliases = $crate::config::section::aliases(&[$($alias),*]),
                    env = $env,
                    global = true,
                    value_name = $value_name,
                    value_parser = <$ty as $crate::config::section::SettingValue>::value_parser(),
                    num_args = <$ty as $crate::config::section::SettingValue>::NUM_ARGS,
                    require_equals = <$ty as $crate::config::section::SettingValue>::REQUIRE_EQUALS,
                    default_missing_value = <$ty as $crate::config::section::SettingValue>::MISSING,
                    ignore_case = true,
                    help = $crate::config::section::help_text(
                        $doc,
                        $crate::config::section::declare_settings!(@range $($min, $max)?),
                        $crate::config::section::declare_settings!(@show $ty $(, $default)?),
                    )
                )]
                pub $field: Option<$ty>,
            )+
            $($($extra)*)?
        }
    };
}

/// Declares a section of numeric settings under one prefix; see the module
/// documentation.
///
/// Each entry:
/// `name: type = default, min..=max, "section.dashed-alias", "DUNDER_ENV", "VALUE_NAME", "help";`.
macro_rules! settings_section {
    (
        $(#[doc = $section_doc:literal])*
        section $key:literal, $Settings:ident, $Flags:ident;
        $(
            $field:ident: $ty:ty = $default:literal, $min:literal ..= $max:literal,
                $alias:literal, $env:literal, $value_name:literal, $doc:literal;
        )+
    ) => {
        $crate::config::section::declare_settings! {
            $(#[doc = $section_doc])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            values $Settings, flags $Flags;
            $(
                [concat!($key, ".", stringify!($field))] $field: $ty = $default, range $min..=$max,
                    aliases [$alias], env $env, value $value_name, $doc;
            )+
        }
    };
}

pub(crate) use declare_settings;
pub(crate) use settings_section;
