//! How the CLI reads an enum argument: as `--help` lists it (`benign-positive`,
//! `in-progress`) or as Azure spells it (`BenignPositive` in Sentinel and the
//! az CLI, `inProgress` in Graph), in any case. Every enum argument reads its
//! value through [`azure`]; a test below walks the whole command tree to keep
//! it that way.

use std::ffi::OsStr;
use std::marker::PhantomData;

use clap::builder::{EnumValueParser, PossibleValue, TypedValueParser};
use clap::ValueEnum;

/// The value parser of an enum argument: `#[arg(long, value_parser = azure::<SeverityArg>())]`.
pub fn azure<E: ValueEnum + Clone + Send + Sync + 'static>() -> AzureSpelling<E> {
    AzureSpelling(PhantomData)
}

/// A [`ValueEnum`] read after folding both sides: `-` and `_` removed, lower case.
#[derive(Clone, Copy)]
pub struct AzureSpelling<E>(PhantomData<E>);

fn fold(text: &str) -> String {
    text.chars().filter(|c| !matches!(c, '-' | '_')).flat_map(char::to_lowercase).collect()
}

impl<E: ValueEnum + Clone + Send + Sync + 'static> TypedValueParser for AzureSpelling<E> {
    type Value = E;

    fn parse_ref(&self, cmd: &clap::Command, arg: Option<&clap::Arg>, value: &OsStr) -> Result<E, clap::Error> {
        let wanted = value.to_str().map(fold);
        let found = E::value_variants().iter().find(|variant| {
            variant.to_possible_value().is_some_and(|possible| {
                possible.get_name_and_aliases().any(|name| wanted.as_deref() == Some(fold(name).as_str()))
            })
        });
        match found {
            Some(variant) => Ok(variant.clone()),
            // clap's own refusal: the value, the possible values and a suggestion.
            None => EnumValueParser::<E>::new().parse_ref(cmd, arg, value),
        }
    }

    /// What `--help` lists: the kebab-case names, as before.
    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(E::value_variants().iter().filter_map(ValueEnum::to_possible_value)))
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::cli::Cli;

    /// `benign-positive` → `BenignPositive`, `in-progress` → `inProgress`.
    fn pascal(kebab: &str) -> String {
        kebab.split('-').map(|word| word[..1].to_uppercase() + &word[1..]).collect()
    }

    fn camel(kebab: &str) -> String {
        let pascal = pascal(kebab);
        pascal[..1].to_lowercase() + &pascal[1..]
    }

    fn spellings(kebab: &str) -> [String; 5] {
        [kebab.to_owned(), pascal(kebab), camel(kebab), kebab.to_uppercase(), kebab.replace('-', "_")]
    }

    /// Each spelling of each variant reads as that variant.
    fn reads_back<E: ValueEnum + Clone + Send + Sync + 'static>() {
        let cli = Cli::command();
        for variant in E::value_variants() {
            let kebab = variant.to_possible_value().expect("a visible value").get_name().to_owned();
            for spelling in spellings(&kebab) {
                let parsed = azure::<E>()
                    .parse_ref(&cli, None, OsStr::new(&spelling))
                    .unwrap_or_else(|e| panic!("'{spelling}' refused: {e}"));
                assert_eq!(
                    parsed.to_possible_value().map(|p| p.get_name().to_owned()),
                    Some(kebab.clone()),
                    "'{spelling}'"
                );
            }
        }
    }

    #[test]
    fn each_spelling_reads_as_its_own_value() {
        use crate::cli::{graph, output, writes};
        reads_back::<writes::SeverityArg>();
        reads_back::<writes::StatusArg>();
        reads_back::<writes::ClassificationArg>();
        reads_back::<writes::ReasonArg>();
        reads_back::<writes::TaskStatusArg>();
        reads_back::<graph::IncidentStatusArg>();
        reads_back::<graph::AlertStatusArg>();
        reads_back::<graph::ClassificationArg>();
        reads_back::<graph::DeterminationArg>();
        reads_back::<output::Format>();
        let cli = Cli::command();
        let parse = |text: &str| {
            azure::<writes::ReasonArg>()
                .parse_ref(&cli, None, OsStr::new(text))
                .ok()
                .and_then(|r| r.to_possible_value())
                .map(|p| p.get_name().to_owned())
        };
        assert_eq!(parse("SuspiciousButExpected").as_deref(), Some("suspicious-but-expected"));
        assert_eq!(parse("suspicious_but_EXPECTED").as_deref(), Some("suspicious-but-expected"));
        assert_eq!(parse("Suspicious"), None);
    }

    /// Every argument that lists possible values, with the path of subcommands to it.
    fn enum_args(command: &clap::Command, path: &str, found: &mut Vec<(String, clap::Arg)>) {
        for arg in command.get_arguments() {
            if !arg.get_possible_values().is_empty() && arg.get_action().takes_values() {
                found.push((format!("{path} --{}", arg.get_id()), arg.clone()));
            }
        }
        for sub in command.get_subcommands() {
            enum_args(sub, &format!("{path} {}", sub.get_name()), found);
        }
    }

    #[test]
    fn every_enum_argument_reads_azures_spelling_in_any_case() {
        let mut cli = Cli::command();
        cli.build();
        let mut args = Vec::new();
        enum_args(&cli, "sentinel", &mut args);
        assert!(args.len() >= 15, "{} enum arguments found", args.len());
        for (name, arg) in &args {
            let names: Vec<String> = arg.get_possible_values().iter().map(|p| p.get_name().to_owned()).collect();
            let folded: std::collections::HashSet<String> = names.iter().map(|n| fold(n)).collect();
            assert_eq!(folded.len(), names.len(), "{name}: two values fold to the same spelling: {names:?}");
            // The argument alone, with its own value parser, on a bare command line.
            let long = arg.get_long().unwrap_or_else(|| panic!("{name} has a --long form"));
            let alone =
                clap::Command::new("t").arg(arg.clone().global(false).required(false).default_value(None::<&str>));
            let read = |value: &str| alone.clone().try_get_matches_from(["t", &format!("--{long}"), value]);
            for kebab in &names {
                for spelling in spellings(kebab) {
                    if let Err(error) = read(&spelling) {
                        panic!("{name} refuses '{spelling}': {error}");
                    }
                }
            }
            let refused = read("NoSuchValue").err().unwrap_or_else(|| panic!("{name} takes anything"));
            assert_eq!(refused.kind(), clap::error::ErrorKind::InvalidValue, "{name}");
        }
    }
}
