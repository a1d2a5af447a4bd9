//! What a fused layer's backward pass is asked for and what it returns, shared by the wide
//! ([`crate::linear`]) and narrow (`narrow`) kernels.

/// Which gradients a backward pass must produce.
#[derive(Clone, Copy, Debug)]
pub struct Needed {
    pub x: bool,
    pub weight: bool,
    pub bias: bool,
}

/// Gradients of one fused layer (`None` where not [`Needed`]).
pub struct Gradients {
    pub x: Option<Vec<f32>>,
    pub weight: Option<Vec<f32>>,
    pub bias: Option<Vec<f32>>,
}
