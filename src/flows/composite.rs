//! The composite flow: a list of layers applied data → noise, and a base distribution
//! (nflows' `CompositeTransform` + `Flow`).
//!
//! `f = f_K ∘ … ∘ f_1`, `log p(x) = log p_base(f(x)) + Σ_k log|det J_{f_k}(z_{k−1})|`;
//! sampling runs the inverses in reverse order from base noise and reports
//! `log q(x) = log p_base(z) − Σ_k log|det J_{f_k⁻¹}|`.
//!
//! # Shapes
//! data and noise `[batch, D]`; log-densities and log-dets `[batch]`.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::label_head::{LabelHead, LabelHeadConfig, log_softmax};
use super::prefix_runs::{Run, prefix_runs, through_runs};
use super::validate::ArchitectureError;
use super::{Base, BaseConfig, Bijection, Layer, LayerConfig, zeros_like_batch};
use crate::fused::mlp::Mlp;
use crate::rng::Rng;

/// The whole architecture of a flow: rebuilds it exactly (weights aside).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FlowConfig {
    /// Layers in data → noise order.
    pub layers: Vec<LayerConfig>,
    pub base: BaseConfig,
    /// A conditional flow's shared context embedding (nflows' `embedding_net`): the raw context
    /// goes through it once, and every conditional layer and the base read its output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<EmbeddingConfig>,
    /// A hybrid model's linear classifier on the latent ([`super::label_head`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<LabelHeadConfig>,
}

/// A small MLP `input → hidden → output` (ReLU) shared by a conditional flow's layers.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct EmbeddingConfig {
    /// The raw context's size.
    pub input: usize,
    pub hidden: usize,
    /// The embedding's size: the context size the layers and the base read.
    pub output: usize,
}

impl FlowConfig {
    pub fn dim(&self) -> usize {
        self.base.dim()
    }

    /// The size `C` of the context a conditional flow is conditioned on (0: unconditional):
    /// the embedding's input when there is one, else the size every conditional layer and a
    /// conditional base read ([`Self::validate`] checks that they agree).
    pub fn context(&self) -> usize {
        match self.embedding {
            Some(e) => e.input,
            None => self.inner_context(),
        }
    }

    /// The context size the layers and the base read (the embedding's output, if any).
    fn inner_context(&self) -> usize {
        self.layers
            .iter()
            .map(LayerConfig::context)
            .chain([self.base.context()])
            .max()
            .unwrap_or(0)
    }

    /// The class count of a class-conditional flow (its base is one Gaussian per class).
    pub fn classes(&self) -> Option<usize> {
        self.base.classes()
    }

    /// The class count of a hybrid model's label head, if it has one.
    pub fn head_classes(&self) -> Option<usize> {
        self.head.map(|h| h.classes)
    }

    /// Checks every layer's numbers ([`LayerSpec::check`](super::LayerSpec::check)) and that each layer fits
    /// the base's dimension; loading a file and building a trainer call this before any layer
    /// is built.
    pub fn validate(&self) -> Result<(), ArchitectureError> {
        let d = self.dim();
        if d == 0 {
            return Err(ArchitectureError::Flow("flow dimension is 0".into()));
        }
        if d > super::validate::MAX_DIM {
            return Err(ArchitectureError::Flow(format!(
                "flow dimension {d} is above the limit of {}",
                super::validate::MAX_DIM
            )));
        }
        let layer_error =
            |index: usize, layer: &LayerConfig, reason: String| ArchitectureError::Layer {
                index,
                name: layer.name(),
                reason,
            };
        for (i, layer) in self.layers.iter().enumerate() {
            layer.check().map_err(|e| layer_error(i, layer, e))?;
        }
        self.base
            .check()
            .map_err(|e| ArchitectureError::Flow(format!("base distribution: {e}")))?;
        if let Some(head) = &self.head {
            head.check(d).map_err(ArchitectureError::Flow)?;
        }
        let c = self.inner_context();
        if let Some(e) = self.embedding {
            let ok = (1..=super::validate::MAX_CONTEXT).contains(&e.input)
                && (1..=super::validate::MAX_HIDDEN).contains(&e.hidden)
                && (1..=super::validate::MAX_CONTEXT).contains(&e.output);
            if !ok || (c != 0 && c != e.output) {
                return Err(ArchitectureError::Flow(format!(
                    "the context embedding {} → {} → {} does not fit layers reading a context of size {c}",
                    e.input, e.hidden, e.output
                )));
            }
        }
        if self.base.context() != 0 && self.base.context() != c {
            return Err(ArchitectureError::Flow(format!(
                "the base reads a context of size {} but a layer reads one of size {c}",
                self.base.context()
            )));
        }
        for (i, layer) in self.layers.iter().enumerate() {
            if layer.context() != 0 && layer.context() != c {
                let reason = format!(
                    "reads a context of size {} but the flow's is {c}",
                    layer.context()
                );
                return Err(layer_error(i, layer, reason));
            }
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let fits = if layer.acts_on_prefix() {
                layer.dim() <= d
            } else {
                layer.dim() == d
            };
            if !fits {
                let reason = format!(
                    "acts on dimension {} but the base has dimension {d}",
                    layer.dim()
                );
                return Err(layer_error(i, layer, reason));
            }
        }
        Ok(())
    }

    /// An upper bound on the floats [`Self::init`] allocates (see
    /// [`LayerSpec::allocation_bound`](super::LayerSpec::allocation_bound)); meaningful after [`Self::validate`].
    pub fn allocation_bound(&self) -> u128 {
        let base = self.base.allocation_bound();
        let embedding = self.embedding.map_or(0, |e| {
            super::validate::mlp(e.input as u128, e.hidden as u128, 1, e.output as u128)
        });
        let head = self.head.map_or(0, |h| h.allocation_bound());
        embedding
            + head
            + self
                .layers
                .iter()
                .map(|l| l.allocation_bound())
                .sum::<u128>()
            + base
    }

    pub fn init(&self, device: &Device) -> Flow {
        Flow {
            layers: self.layers.iter().map(|l| l.init(device)).collect(),
            base: self.base.init(device),
            embedding: self
                .embedding
                .map(|e| Mlp::new(e.input, e.hidden, 1, e.output, device)),
            head: self.head.map(|h| h.init(device)),
            config: self.clone(),
        }
    }
}

/// One point of a trajectory through the flow: the batch after a layer and that layer's log-det.
#[derive(Clone, Debug)]
pub struct Stage {
    pub z: Tensor<2>,
    pub logdet: Tensor<1>,
}

/// A normalizing flow.
#[derive(Module, Debug)]
pub struct Flow {
    pub layers: Vec<Layer>,
    pub base: Base,
    /// The shared context embedding ([`FlowConfig::embedding`]).
    pub embedding: Option<Mlp>,
    /// A hybrid model's label head ([`FlowConfig::head`]).
    pub head: Option<LabelHead>,
    #[module(skip)]
    pub config: FlowConfig,
}

impl Flow {
    pub fn config(&self) -> &FlowConfig {
        &self.config
    }

    pub fn dim(&self) -> usize {
        self.config.dim()
    }

    /// The size of the context a conditional flow reads (0: unconditional).
    pub fn context(&self) -> usize {
        self.config.context()
    }

    /// The context the layers and the base read: the raw one through the embedding, if any.
    fn embed(&self, context: Option<&Tensor<2>>) -> Option<Tensor<2>> {
        let c = context?.clone();
        Some(match &self.embedding {
            Some(net) => net.forward(c),
            None => c,
        })
    }

    /// `x → (z = f(x), Σ_k log|det J_k|)`.
    pub fn transform_to_noise(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        self.transform_to_noise_given(x, None)
    }

    /// `x → (z = f(x; c), Σ_k log|det J_k|)` given a context `c [batch, C]` (see
    /// [`Bijection::forward_given`]; `None` for an unconditional flow).
    pub fn transform_to_noise_given(
        &self,
        x: Tensor<2>,
        context: Option<&Tensor<2>>,
    ) -> (Tensor<2>, Tensor<1>) {
        self.forward_embedded(x, self.embed(context).as_ref())
    }

    fn forward_embedded(
        &self,
        x: Tensor<2>,
        context: Option<&Tensor<2>>,
    ) -> (Tensor<2>, Tensor<1>) {
        let ld = zeros_like_batch(&x);
        through_runs(&self.runs(), false, x, ld, |i, z, acc| {
            let (z, ld) = self.layers[i].forward_given(z, context);
            (z, acc + ld)
        })
    }

    /// The layers as runs that share one split of the rows ([`super::prefix_runs`]).
    fn runs(&self) -> Vec<Run> {
        prefix_runs(&self.config.layers, self.dim())
    }

    /// `log p(x)`, `[batch, D] → [batch]`.
    pub fn log_prob(&self, x: Tensor<2>) -> Tensor<1> {
        self.log_prob_given(x, None)
    }

    /// `log p(x | c)`, `x [batch, D]`, `c [batch, C]` → `[batch]`.
    pub fn log_prob_given(&self, x: Tensor<2>, context: Option<&Tensor<2>>) -> Tensor<1> {
        let c = self.embed(context);
        let (z, ld) = self.forward_embedded(x, c.as_ref());
        self.base.log_prob_given(z, c.as_ref()) + ld
    }

    /// The training-time score: `(log p(x)` whose gradient is the training gradient (the
    /// self-normalized one for self-normalizing layers, whose log-det *values* are left out),
    /// `Σ` of the layer-wise reconstruction losses`)`, both `[batch]`; the second is `None` when
    /// no layer is self-normalizing. See [`Bijection::forward_train`].
    pub fn log_prob_train(&self, x: Tensor<2>) -> (Tensor<1>, Option<Tensor<1>>) {
        self.log_prob_train_given(x, None)
    }

    /// [`Self::log_prob_train`] given a context `c [batch, C]`.
    pub fn log_prob_train_given(
        &self,
        x: Tensor<2>,
        context: Option<&Tensor<2>>,
    ) -> (Tensor<1>, Option<Tensor<1>>) {
        let (log_p, recon, _) = self.train_pass(x, context);
        (log_p, recon)
    }

    /// A hybrid model's training pass: [`Self::log_prob_train`] and `log p(y | x)` for every
    /// class, `[batch, K]` (`None` without a label head).
    pub fn hybrid_train(&self, x: Tensor<2>) -> (Tensor<1>, Option<Tensor<1>>, Option<Tensor<2>>) {
        let (log_p, recon, z) = self.train_pass(x, None);
        let labels = self.head.as_ref().map(|h| log_softmax(h.logits(z)));
        (log_p, recon, labels)
    }

    /// `(log p(x) | c)` and `log p(y | x)` for every class (`None` without a label head):
    /// `[batch]`, `[batch, K]`.
    pub fn log_prob_and_labels(&self, x: Tensor<2>) -> (Tensor<1>, Option<Tensor<2>>) {
        let (z, ld) = self.forward_embedded(x, None);
        let labels = self.head.as_ref().map(|h| log_softmax(h.logits(z.clone())));
        (self.base.log_prob(z) + ld, labels)
    }

    /// The training pass: `(log p(x), reconstruction, z = f(x))`.
    fn train_pass(
        &self,
        x: Tensor<2>,
        context: Option<&Tensor<2>>,
    ) -> (Tensor<1>, Option<Tensor<1>>, Tensor<2>) {
        let c = self.embed(context);
        let context = c.as_ref();
        let start = (zeros_like_batch(&x), None::<Tensor<1>>);
        let (z, (ld, recon)) = through_runs(&self.runs(), false, x, start, |i, z, (ld, recon)| {
            // Conditional layers train on their exact log-det; only unconditional ones are
            // self-normalizing.
            let (next, l, r) = if self.config.layers[i].context() > 0 {
                let (next, l) = self.layers[i].forward_given(z, context);
                (next, l, None)
            } else {
                self.layers[i].forward_train(z)
            };
            let recon = match (recon, r) {
                (Some(acc), Some(r)) => Some(acc + r),
                (acc, r) => acc.or(r),
            };
            (next, (ld + l, recon))
        });
        (self.base.log_prob_given(z.clone(), context) + ld, recon, z)
    }

    /// `z → (x = f⁻¹(z), Σ_k log|det J_{f_k⁻¹}|)`.
    pub fn inverse(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        self.inverse_given(z, None)
    }

    /// `z → (x = f⁻¹(z; c), Σ_k log|det J_{f_k⁻¹}|)` given a context `c [batch, C]`.
    pub fn inverse_given(
        &self,
        z: Tensor<2>,
        context: Option<&Tensor<2>>,
    ) -> (Tensor<2>, Tensor<1>) {
        self.inverse_embedded(z, self.embed(context).as_ref())
    }

    fn inverse_embedded(
        &self,
        z: Tensor<2>,
        context: Option<&Tensor<2>>,
    ) -> (Tensor<2>, Tensor<1>) {
        let ld = zeros_like_batch(&z);
        through_runs(&self.runs(), true, z, ld, |i, x, acc| {
            let (x, ld) = self.layers[i].inverse_given(x, context);
            (x, acc + ld)
        })
    }

    /// `f(x)` without the log-dets (an unconditional flow; a continuous flow skips its trace).
    pub fn transform_points(&self, x: Tensor<2>) -> Tensor<2> {
        let ld = zeros_like_batch(&x);
        through_runs(&self.runs(), false, x, ld, |i, z, acc| {
            (self.layers[i].forward_points(z), acc)
        })
        .0
    }

    /// `f⁻¹(z)` without the log-dets (see [`Self::transform_points`]).
    pub fn inverse_points(&self, z: Tensor<2>) -> Tensor<2> {
        let ld = zeros_like_batch(&z);
        through_runs(&self.runs(), true, z, ld, |i, x, acc| {
            (self.layers[i].inverse_points(x), acc)
        })
        .0
    }

    /// Pushes standard-normal noise `ε [n, D]` through the base and the flow: `(x, log q(x))`.
    pub fn sample_from_standard(&self, eps: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        self.sample_from_standard_given(eps, None)
    }

    /// Pushes standard-normal noise `ε [n, D]` through `p(z | c)` and the flow given
    /// `c [n, C]` (one context row per sample): `(x, log q(x | c))`.
    pub fn sample_from_standard_given(
        &self,
        eps: Tensor<2>,
        context: Option<&Tensor<2>>,
    ) -> (Tensor<2>, Tensor<1>) {
        let c = self.embed(context);
        let (z, log_base) = self.base.from_standard_given(eps, c.as_ref());
        let (x, ld) = self.inverse_embedded(z, c.as_ref());
        (x, log_base - ld)
    }

    /// `n` samples of `q(x | c)` for one context `c` (`C` host values), with their
    /// log-densities, drawn from `rng` on `device`.
    pub fn sample_given(
        &self,
        n: usize,
        context: &[f32],
        rng: &mut Rng,
        device: &Device,
    ) -> (Tensor<2>, Tensor<1>) {
        let c = super::each_row_n_times(context, context.len(), n, device);
        self.sample_at_temperature_given(n, 1.0, Some(&c), rng, device)
    }

    /// `n` samples with their log-density under the flow, drawn from `rng` on `device`.
    pub fn sample(&self, n: usize, rng: &mut Rng, device: &Device) -> (Tensor<2>, Tensor<1>) {
        self.sample_at_temperature(n, 1.0, rng, device)
    }

    /// `n` samples from standard noise scaled by `temperature` (Kingma & Dhariwal 2018, Glow's
    /// reduced-temperature sampling: `T < 1` trades diversity for typical samples), with
    /// `log q(x)` of each under the flow itself (not the tempered density).
    pub fn sample_at_temperature(
        &self,
        n: usize,
        temperature: f32,
        rng: &mut Rng,
        device: &Device,
    ) -> (Tensor<2>, Tensor<1>) {
        self.sample_at_temperature_given(n, temperature, None, rng, device)
    }

    /// [`Self::sample_at_temperature`] given a context `c [n, C]` (one row per sample).
    pub fn sample_at_temperature_given(
        &self,
        n: usize,
        temperature: f32,
        context: Option<&Tensor<2>>,
        rng: &mut Rng,
        device: &Device,
    ) -> (Tensor<2>, Tensor<1>) {
        let d = self.dim();
        let eps: Vec<f32> = rng
            .normals_f32(n * d)
            .into_iter()
            .map(|v| v * temperature)
            .collect();
        let eps = Tensor::<2>::from_data(TensorData::new(eps, [n, d]), device);
        self.sample_from_standard_given(eps, context)
    }

    /// Every intermediate `z_k` data → noise: stage 0 is `x` (log-det 0), stage `k` follows layer `k`.
    pub fn forward_stages(&self, x: Tensor<2>) -> Vec<Stage> {
        let mut stages = vec![Stage {
            logdet: zeros_like_batch(&x),
            z: x,
        }];
        for layer in &self.layers {
            let (z, logdet) = layer.forward(stages.last().expect("non-empty").z.clone());
            stages.push(Stage { z, logdet });
        }
        stages
    }

    /// Every intermediate noise → data: stage 0 is `z`, stage `k` follows the `k`-th inverse
    /// (layers taken in reverse order).
    pub fn inverse_stages(&self, z: Tensor<2>) -> Vec<Stage> {
        let mut stages = vec![Stage {
            logdet: zeros_like_batch(&z),
            z,
        }];
        for layer in self.layers.iter().rev() {
            let (x, logdet) = layer.inverse(stages.last().expect("non-empty").z.clone());
            stages.push(Stage { z: x, logdet });
        }
        stages
    }

    /// The same flow with every continuous layer integrated by RK4 in `steps` steps (a cheap
    /// preview: the page's heatmap while training); other layers are unchanged.
    pub fn with_cnf_steps(mut self, steps: usize) -> Self {
        for layer in &mut self.layers {
            if let Layer::Cnf(cnf) = layer {
                cnf.config.solver = cnf.config.solver.with_rk4_steps(steps);
            }
        }
        self
    }

    /// Data-dependent initialisation: each ActNorm sees the batch as transformed by the layers
    /// before it.
    ///
    /// The last layer's output is not needed, so it is not computed: on an autodiff device a
    /// continuous flow's forward would record its whole solver for nothing (gigabytes at 4 096
    /// rows and width 128, more than the page's wasm memory holds).
    pub fn data_init(self, x: Tensor<2>) -> Self {
        let mut z = x.detach();
        let count = self.layers.len();
        let mut layers = Vec::with_capacity(count);
        for (i, layer) in self.layers.into_iter().enumerate() {
            let layer = layer.data_init(z.clone());
            if i + 1 < count {
                z = layer.forward(z).0.detach();
            }
            layers.push(layer);
        }
        Self { layers, ..self }
    }
}
