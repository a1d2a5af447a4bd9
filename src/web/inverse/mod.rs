//! The page's third mode, "Inverse problems": a pretrained amortised posterior `q(θ | y)` drawn
//! for the observation the visitor drags, beside the exact posterior where it has one.

pub mod view;
