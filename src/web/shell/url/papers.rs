//! The Papers view's section of the URL: `figure` (`rezende2015`, the default, or `families`),
//! for Rezende's figure `energies` (which of U1–U4, the figure's rows) and `lengths` (the flow
//! lengths K, its columns), for the families comparison `flows` (the families side by side, on
//! the playground's `target`), comma-separated; the shared `steps` and `seed` set each fit's
//! steps and seed (`#view=papers&energies=u2&lengths=2,8&steps=300`,
//! `#view=papers&figure=families&target=moons&flows=realnvp,nsf,cnf`).

use super::Param;
use crate::flows::FlowKind;
use crate::reproduce::families::DEFAULT_FAMILIES;
use crate::targets::Energy;

/// Which figure the Papers view fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaperFigure {
    /// Rezende & Mohamed 2015, Fig. 3.
    Rezende2015,
    /// Flow families side by side on one target ([`crate::reproduce::families`]).
    Families,
}

impl PaperFigure {
    pub fn name(self) -> &'static str {
        match self {
            Self::Rezende2015 => "rezende2015",
            Self::Families => "families",
        }
    }
}

/// `realnvp,nsf,cnf`: 1 to 6 distinct flow families, in the link's order.
fn parse_flows(v: &str) -> Option<Vec<FlowKind>> {
    let kinds: Vec<FlowKind> = v
        .split(',')
        .map(|s| s.trim().parse().ok())
        .collect::<Option<_>>()?;
    let mut distinct = kinds.clone();
    distinct.sort_by_key(|k| k.name());
    distinct.dedup();
    ((1..=6).contains(&kinds.len()) && distinct.len() == kinds.len()).then_some(kinds)
}

/// Longest flow a link may ask for.
pub const MAX_PAPER_LENGTH: usize = 64;

/// The Papers view's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct PapersConfig {
    pub figure: PaperFigure,
    pub energies: Vec<Energy>,
    pub lengths: Vec<usize>,
    pub flows: Vec<FlowKind>,
}

impl Default for PapersConfig {
    fn default() -> Self {
        Self {
            figure: PaperFigure::Rezende2015,
            energies: vec![Energy::U1, Energy::U2, Energy::U3, Energy::U4],
            lengths: vec![2, 8, 32],
            flows: DEFAULT_FAMILIES.to_vec(),
        }
    }
}

/// `u1,u3`: 1 to 4 distinct energies of the figure, in its order.
fn parse_energies(v: &str) -> Option<Vec<Energy>> {
    let named: Option<Vec<Energy>> = v
        .split(',')
        .map(|s| {
            [Energy::U1, Energy::U2, Energy::U3, Energy::U4]
                .into_iter()
                .find(|e| e.name() == s.trim())
        })
        .collect();
    let named = named?;
    let kept: Vec<Energy> = [Energy::U1, Energy::U2, Energy::U3, Energy::U4]
        .into_iter()
        .filter(|e| named.contains(e))
        .collect();
    (!kept.is_empty() && kept.len() == named.len()).then_some(kept)
}

/// `2,8,32`: 1 to 6 distinct lengths in 1..=[`MAX_PAPER_LENGTH`], sorted.
fn parse_lengths(v: &str) -> Option<Vec<usize>> {
    let mut k: Vec<usize> = v
        .split(',')
        .map(|s| super::parse_in(s.trim(), 1, MAX_PAPER_LENGTH))
        .collect::<Option<_>>()?;
    let n = k.len();
    k.sort_unstable();
    k.dedup();
    ((1..=6).contains(&k.len()) && k.len() == n).then_some(k)
}

impl PapersConfig {
    /// Sets `key` from `value`: `None` when the key is not this section's, else whether the
    /// value was taken.
    pub(super) fn set(&mut self, key: &str, value: &str) -> Option<bool> {
        Some(match key {
            "figure" => match value {
                "rezende2015" => Some(PaperFigure::Rezende2015),
                "families" => Some(PaperFigure::Families),
                _ => None,
            }
            .map(|f| self.figure = f)
            .is_some(),
            "flows" => parse_flows(value).map(|f| self.flows = f).is_some(),
            "energies" => parse_energies(value).map(|e| self.energies = e).is_some(),
            "lengths" => parse_lengths(value).map(|k| self.lengths = k).is_some(),
            _ => return None,
        })
    }

    /// This section's parameters against the defaults `d`.
    pub(super) fn params(&self, d: &Self) -> Vec<Param> {
        let energies: Vec<&str> = self.energies.iter().map(|e| e.name()).collect();
        let lengths: Vec<String> = self.lengths.iter().map(|k| k.to_string()).collect();
        let flows: Vec<&str> = self.flows.iter().map(|k| k.name()).collect();
        vec![
            (
                "figure",
                self.figure.name().to_string(),
                self.figure == d.figure,
            ),
            ("flows", flows.join(","), self.flows == d.flows),
            ("energies", energies.join(","), self.energies == d.energies),
            ("lengths", lengths.join(","), self.lengths == d.lengths),
        ]
    }
}
