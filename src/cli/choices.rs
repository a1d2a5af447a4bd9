//! The names a user picks from on the command line, as clap value enums: `--help` lists the
//! flow families and targets from the same tables the parsers read ([`FlowKind::ALL`],
//! [`Target::all`]), so the help text cannot fall behind a new family or target, and a
//! misspelt name is refused by clap with the list of valid ones.

use clap::ValueEnum;
use clap::builder::PossibleValue;

use crate::flows::FlowKind;
use crate::targets::Target;

impl ValueEnum for FlowKind {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

impl ValueEnum for Target {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: std::sync::OnceLock<Vec<Target>> = std::sync::OnceLock::new();
        ALL.get_or_init(Target::all)
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every family and target has a value clap accepts, and it parses back to itself.
    #[test]
    fn every_name_round_trips_through_clap() {
        for k in FlowKind::ALL {
            assert_eq!(<FlowKind as ValueEnum>::from_str(k.name(), false), Ok(k));
        }
        for t in Target::all() {
            assert_eq!(<Target as ValueEnum>::from_str(t.name(), false), Ok(t));
        }
        assert!(<FlowKind as ValueEnum>::from_str("glow", false).is_err());
    }
}
