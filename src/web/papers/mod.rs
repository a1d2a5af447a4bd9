//! The page's fourth mode, "Papers": a published figure re-run live in the tab, with the same
//! cells and numbers as `flowplay reproduce` (Rezende & Mohamed 2015, Fig. 3).

pub mod view;
