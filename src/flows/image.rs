//! Shared machinery of the image layers.
//!
//! Image layers keep the flat `[batch, D]` interface of every other layer, so the composite,
//! the trainer, the `.flow` file and the page need nothing new. A layer built for an image of
//! shape `(c, h, w)` reads the first `c·h·w` columns of each row as a channel-major image
//! `[batch, c, h, w]` and passes the remaining columns through unchanged. That is what makes the
//! Glow multiscale architecture (Dinh et al. 2017, arXiv:1605.08803 §3.6; Kingma & Dhariwal 2018,
//! arXiv:1807.03039) a plain list of layers: a split prior factors out the *last* channels
//! (the tail of the active prefix), and every later layer works on the shorter prefix.
//!
//! Also here: a small conv module ([`Conv`]), the conditioner CNN of Glow's coupling
//! ([`ConvNet`]), and the dense matrix of a convolution ([`conv_matrix`]) that exact log-dets
//! and exact inverses of general convolutions need.

use burn::module::{Module, Param};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};

/// The shape `(channels, height, width)` of the image a layer acts on.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageShape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl ImageShape {
    pub fn new(channels: usize, height: usize, width: usize) -> Self {
        Self {
            channels,
            height,
            width,
        }
    }

    /// `c·h·w`.
    pub fn dim(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Number of pixel positions `h·w`.
    pub fn positions(&self) -> usize {
        self.height * self.width
    }

    /// The shape after a 2×2 squeeze: `(4c, h/2, w/2)`.
    pub fn squeezed(&self) -> Self {
        Self::new(self.channels * 4, self.height / 2, self.width / 2)
    }
}

impl std::fmt::Display for ImageShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}×{}×{}", self.channels, self.height, self.width)
    }
}

/// Splits rows `x [n, D]` into their first `k` columns and the passed-through rest (`None`
/// when `k = D`). The prefix convention of every layer that acts on part of a row.
pub(crate) fn split_prefix(x: Tensor<2>, k: usize) -> (Tensor<2>, Option<Tensor<2>>) {
    let [_, d] = x.dims();
    assert!(k <= d, "layer acts on {k} columns, rows have {d}");
    if k == d {
        (x, None)
    } else {
        (x.clone().narrow(1, 0, k), Some(x.narrow(1, k, d - k)))
    }
}

/// The inverse of [`split_prefix`].
pub(crate) fn join_prefix(head: Tensor<2>, rest: Option<Tensor<2>>) -> Tensor<2> {
    match rest {
        None => head,
        Some(r) => Tensor::cat(vec![head, r], 1),
    }
}

/// Splits rows `x [n, D]` into the image `[n, c, h, w]` (first `c·h·w` columns) and the
/// passed-through rest (`None` when the image is the whole row).
pub(crate) fn take_image(x: Tensor<2>, s: ImageShape) -> (Tensor<4>, Option<Tensor<2>>) {
    let [n, _] = x.dims();
    let (head, rest) = split_prefix(x, s.dim());
    (head.reshape([n, s.channels, s.height, s.width]), rest)
}

/// The inverse of [`take_image`].
pub(crate) fn put_image(img: Tensor<4>, rest: Option<Tensor<2>>) -> Tensor<2> {
    let [n, c, h, w] = img.dims();
    join_prefix(img.reshape([n, c * h * w]), rest)
}

/// Applies an image map to the image part of `x` and reassembles the rows.
pub(crate) fn on_image(
    x: Tensor<2>,
    s: ImageShape,
    f: impl FnOnce(Tensor<4>) -> (Tensor<4>, Tensor<1>),
) -> (Tensor<2>, Tensor<1>) {
    let (img, rest) = take_image(x, s);
    let (out, ld) = f(img);
    (put_image(out, rest), ld)
}

/// `Σ_{c,h,w} t` per image: `[n, c, h, w] → [n]`.
pub(crate) fn sum_image(t: Tensor<4>) -> Tensor<1> {
    let [n, c, h, w] = t.dims();
    t.reshape([n, c * h * w]).sum_dim(1).reshape([n])
}

/// A per-image constant `[n]` from a scalar tensor `[1]`.
pub(crate) fn per_image(scalar: Tensor<1>, n: usize) -> Tensor<1> {
    scalar.reshape([1]).repeat_dim(0, n)
}

/// "Same" 2D convolution (odd kernel, stride 1, zero padding `k/2`).
pub(crate) fn conv_same(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>) -> Tensor<4> {
    let [_, _, kh, kw] = weight.dims();
    conv2d(
        x,
        weight,
        bias,
        ConvOptions::new([1, 1], [kh / 2, kw / 2], [1, 1], 1),
    )
}

/// A convolution with its parameters: `weight [out, in, k, k]`, `bias [out]`.
#[derive(Module, Debug)]
pub struct Conv {
    pub weight: Param<Tensor<4>>,
    pub bias: Param<Tensor<1>>,
}

impl Conv {
    /// He-normal weights (`std = √(2/fan_in)`), zero bias.
    pub fn new(input: usize, output: usize, kernel: usize, device: &Device) -> Self {
        let std = (2.0 / (input * kernel * kernel) as f64).sqrt();
        Self {
            weight: Param::from_tensor(Tensor::random(
                [output, input, kernel, kernel],
                Distribution::Normal(0.0, std),
                device,
            )),
            bias: Param::from_tensor(Tensor::zeros([output], device)),
        }
    }

    /// All-zero weights and bias (the last layer of a conditioner: the flow starts at identity).
    pub fn zeros(input: usize, output: usize, kernel: usize, device: &Device) -> Self {
        Self {
            weight: Param::from_tensor(Tensor::zeros([output, input, kernel, kernel], device)),
            bias: Param::from_tensor(Tensor::zeros([output], device)),
        }
    }

    /// # Shapes
    /// `[n, in, h, w] → [n, out, h, w]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        conv_same(x, self.weight.val(), Some(self.bias.val()))
    }
}

/// Glow's conditioner: `3×3 conv → ReLU → 1×1 conv → ReLU → 3×3 conv (zero-initialised)`.
#[derive(Module, Debug)]
pub struct ConvNet {
    pub first: Conv,
    pub middle: Conv,
    pub last: Conv,
}

impl ConvNet {
    pub fn new(input: usize, hidden: usize, output: usize, device: &Device) -> Self {
        Self {
            first: Conv::new(input, hidden, 3, device),
            middle: Conv::new(hidden, hidden, 1, device),
            last: Conv::zeros(hidden, output, 3, device),
        }
    }

    /// Fused into one operation on the CPU backend (`crate::fused::conv_net`), Burn's
    /// convolutions elsewhere (WebGPU, wgpu, or with the fused operations switched off).
    ///
    /// # Shapes
    /// `[n, in, h, w] → [n, out, h, w]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let convs = [&self.first, &self.middle, &self.last].map(|c| (c.weight.val(), c.bias.val()));
        match crate::fused::conv_net::conv_net(&x, convs) {
            Some(y) => y,
            None => self.forward_unfused(x),
        }
    }

    /// The conditioner in Burn's own operations: the path off the CPU backend, and the
    /// reference the fused one is tested against.
    pub fn forward_unfused(&self, x: Tensor<4>) -> Tensor<4> {
        let h = burn::tensor::activation::relu(self.first.forward(x));
        let h = burn::tensor::activation::relu(self.middle.forward(h));
        self.last.forward(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::fused_on;
    use crate::fused::kernels::testing::assert_within;
    use crate::testing::{host, perturb, seeded_autodiff_device};
    use burn::module::Module;

    /// The conditioner (fused on the CPU backend) under autodiff against Burn's own convolutions on the same
    /// parameters: the output, and the gradients of a weighted sum of it with respect to the
    /// input and all six parameters, for Glow's shapes at both scales and a batch large enough
    /// for the products to split over threads.
    #[test]
    fn matches_burn_convolutions_and_their_gradients() {
        let (_guard, device) = seeded_autodiff_device(11);
        assert!(fused_on(&device), "the test device is the CPU backend");
        for (n, c, hw, hidden, out) in [(3, 2, 6, 8, 4), (2, 4, 5, 16, 8), (24, 2, 14, 32, 4)] {
            // The last conv starts at zero in a Glow: perturb it so every gradient is nonzero.
            let net = perturb(ConvNet::new(c, hidden, out, &device), 0.2);
            let x = Tensor::<4>::random([n, c, hw, hw], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
            let weights =
                Tensor::<4>::random([n, out, hw, hw], Distribution::Normal(0.0, 1.0), &device);
            let run = |fused: bool| {
                let y = if fused {
                    net.forward(x.clone())
                } else {
                    net.forward_unfused(x.clone())
                };
                let grads = (y.clone() * weights.clone()).sum().backward();
                let mut got = vec![
                    host(y.flatten::<1>(0, 3)),
                    host(x.grad(&grads).expect("dx").flatten::<1>(0, 3)),
                ];
                for conv in [&net.first, &net.middle, &net.last] {
                    got.push(host(
                        conv.weight
                            .val()
                            .grad(&grads)
                            .expect("dW")
                            .flatten::<1>(0, 3),
                    ));
                    got.push(host(conv.bias.val().grad(&grads).expect("db")));
                }
                got
            };
            let (fused, reference) = (run(true), run(false));
            for (what, (f, r)) in ["y", "dx", "dW1", "db1", "dW2", "db2", "dW3", "db3"]
                .iter()
                .zip(fused.iter().zip(&reference))
            {
                // The output and the input gradient to 1e-5; a weight gradient sums over every
                // pixel of the batch (4 704 here), whose f32 order differs between the paths.
                let tol = if what.starts_with('d') && *what != "dx" {
                    1e-4
                } else {
                    1e-5
                };
                assert_within(
                    f,
                    r,
                    tol,
                    &format!("{what} (n {n}, c {c}, {hw}×{hw}, hidden {hidden})"),
                );
            }
        }
    }

    /// Without autodiff (sampling, evaluation) it runs fused and agrees with Burn's convolutions.
    #[test]
    fn runs_without_autodiff() {
        let (_guard, autodiff) = seeded_autodiff_device(12);
        let net = perturb(ConvNet::new(2, 12, 4, &autodiff), 0.2).valid();
        let device = crate::device::cpu();
        let x = Tensor::<4>::random([3, 2, 7, 7], Distribution::Normal(0.0, 1.0), &device);
        let want = host(net.forward_unfused(x.clone()).flatten::<1>(0, 3));
        let got = host(net.forward(x.clone()).flatten::<1>(0, 3));
        assert_within(&got, &want, 1e-5, "y");
    }
}
