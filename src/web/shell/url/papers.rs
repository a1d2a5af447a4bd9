//! The Papers view's section of the URL: `energies` (which of U1–U4, the figure's rows) and
//! `lengths` (the flow lengths K, its columns), comma-separated; the shared `steps` and `seed`
//! set each fit's steps and seed (`#view=papers&energies=u2&lengths=2,8&steps=300`).

use super::Param;
use crate::targets::Energy;

/// Longest flow a link may ask for.
pub const MAX_PAPER_LENGTH: usize = 64;

/// The Papers view's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct PapersConfig {
    pub energies: Vec<Energy>,
    pub lengths: Vec<usize>,
}

impl Default for PapersConfig {
    fn default() -> Self {
        Self {
            energies: vec![Energy::U1, Energy::U2, Energy::U3, Energy::U4],
            lengths: vec![2, 8, 32],
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
            "energies" => parse_energies(value).map(|e| self.energies = e).is_some(),
            "lengths" => parse_lengths(value).map(|k| self.lengths = k).is_some(),
            _ => return None,
        })
    }

    /// This section's parameters against the defaults `d`.
    pub(super) fn params(&self, d: &Self) -> Vec<Param> {
        let energies: Vec<&str> = self.energies.iter().map(|e| e.name()).collect();
        let lengths: Vec<String> = self.lengths.iter().map(|k| k.to_string()).collect();
        vec![
            ("energies", energies.join(","), self.energies == d.energies),
            ("lengths", lengths.join(","), self.lengths == d.lengths),
        ]
    }
}
