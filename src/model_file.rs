//! The `.flow` file: one safetensors file holding the weights, with the architecture
//! ([`FlowConfig`]) and what we know about the training (target, history, summary) as JSON in
//! the safetensors metadata under the key `flowplay`. A loader needs nothing else.
//!
//! Reading validates everything before touching the model: the header length, the header JSON,
//! every tensor's byte range, the metadata, the config, and finally that every weight in the
//! file matches the architecture (names and shapes) with none missing or left over.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::flows::{Flow, FlowConfig, FlowSpec};
use crate::train::History;

/// The metadata key that marks a flowplay model.
pub const METADATA_KEY: &str = "flowplay";
/// Bumped when the layout changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;

/// Everything in a `.flow` file besides the weights.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FlowMeta {
    pub format_version: u32,
    pub config: FlowConfig,
    /// The named architecture it was built from, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<FlowSpec>,
    /// The target it was trained on (a name from `flowplay::targets`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<History>,
    /// Free-form training summary (the CLI's final JSON line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<serde_json::Value>,
    /// For image models: what the rows are (shape, data set, preprocessing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageMeta>,
    /// For amortised posteriors: the inverse problem and how `θ` is drawn given `y`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posterior: Option<PosteriorMeta>,
}

/// What an amortised posterior model answers: `θ ~ q(θ | y)` for `problem`'s observations `y`.
/// A conditional flow (`cflow`) reads `y` as its context; an INN (`inn`) is a plain bijection
/// of `[θ, 0] ↔ [y, z]` whose inverse draws `θ` ([`crate::inverse::inn`]).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PosteriorMeta {
    pub problem: crate::inverse::Problem,
    pub method: crate::inverse::Method,
}

/// What an image model's rows mean: channel-major images of `shape`, 8-bit pixels dequantised
/// to `(k + u)/256` (densities on the unit cube; bits/dim = −log p / (D ln 2) + 8).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ImageMeta {
    pub shape: crate::flows::image::ImageShape,
    /// The data set it was trained on (`mnist`, `fashion-mnist`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// The preset it was built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
}

impl FlowMeta {
    /// For an amortised posterior: the observation noise `σ` its training simulations had
    /// (`fit-posterior --noise`, written in its summary; the problem's own when not written).
    pub fn posterior_noise(&self) -> Option<f64> {
        let p = self.posterior.as_ref()?;
        let written = self.summary.as_ref().and_then(|s| s["noise_std"].as_f64());
        Some(written.unwrap_or(p.problem.noise_std()))
    }

    pub fn new(config: FlowConfig) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            config,
            spec: None,
            target: None,
            history: None,
            summary: None,
            image: None,
            posterior: None,
        }
    }
}

/// Why a `.flow` file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("truncated model file: {0}")]
    Truncated(String),
    #[error("corrupt model file: {0}")]
    Corrupt(String),
    #[error("not a flowplay model: {0}")]
    NotAFlow(String),
    #[error("model file does not match its architecture: {0}")]
    Mismatch(String),
    #[error("could not encode the model: {0}")]
    Encode(String),
}

#[derive(Deserialize)]
struct TensorEntry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

/// Serialises `flow` with `meta` into the bytes of a `.flow` file.
pub fn to_bytes(flow: &Flow, meta: &FlowMeta) -> Result<Vec<u8>, ModelFileError> {
    let json = serde_json::to_string(meta).map_err(|e| ModelFileError::Encode(e.to_string()))?;
    let mut store = SafetensorsStore::from_bytes(None).metadata(METADATA_KEY, json);
    flow.save_into(&mut store)
        .map_err(|e| ModelFileError::Encode(format!("{e:?}")))?;
    store
        .get_bytes()
        .map_err(|e| ModelFileError::Encode(format!("{e:?}")))
}

/// Writes a `.flow` file atomically ([`crate::atomic_file`]), so an interrupted
/// save never leaves a half-written model behind.
pub fn save(path: &Path, flow: &Flow, meta: &FlowMeta) -> Result<(), ModelFileError> {
    let bytes = to_bytes(flow, meta)?;
    crate::atomic_file::write(path, &bytes).map_err(|source| ModelFileError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Reads only the metadata of `.flow` bytes, validating the safetensors structure.
pub fn read_meta(bytes: &[u8]) -> Result<FlowMeta, ModelFileError> {
    inspect(bytes).map(|(meta, _)| meta)
}

/// [`read_meta`], with the number of weight values the file holds.
pub fn inspect(bytes: &[u8]) -> Result<(FlowMeta, usize), ModelFileError> {
    let (header, data_len) = read_header(bytes)?;
    let data = &bytes[bytes.len() - data_len..];
    let mut metadata = None;
    let mut file_values = 0usize;
    for (name, value) in header {
        if name == "__metadata__" {
            metadata = Some(value);
        } else {
            file_values = file_values.saturating_add(check_tensor_entry(&name, value, data)?);
        }
    }
    let json = metadata
        .as_ref()
        .and_then(|m| m.get(METADATA_KEY))
        .and_then(|v| v.as_str())
        .ok_or_else(|| {
            ModelFileError::NotAFlow(format!(
                "no '{METADATA_KEY}' entry in the safetensors metadata (a plain safetensors file?)"
            ))
        })?;
    let meta: FlowMeta = serde_json::from_str(json)
        .map_err(|e| ModelFileError::Corrupt(format!("the flowplay metadata is invalid: {e}")))?;
    if meta.format_version != FORMAT_VERSION {
        return Err(ModelFileError::NotAFlow(format!(
            "format version {} (this build reads version {FORMAT_VERSION})",
            meta.format_version
        )));
    }
    check_architecture(&meta, file_values)?;
    Ok((meta, file_values))
}

/// The safetensors header (`u64` length, then JSON) and the length of the data after it.
fn read_header(
    bytes: &[u8],
) -> Result<(BTreeMap<String, serde_json::Value>, usize), ModelFileError> {
    if bytes.len() < 8 {
        return Err(ModelFileError::Truncated(format!(
            "{} bytes, shorter than the 8-byte safetensors header length",
            bytes.len()
        )));
    }
    let header_len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    if header_len > bytes.len() - 8 {
        return Err(ModelFileError::Truncated(format!(
            "the header claims {header_len} bytes but only {} follow",
            bytes.len() - 8
        )));
    }
    let header = serde_json::from_slice(&bytes[8..8 + header_len])
        .map_err(|e| ModelFileError::Corrupt(format!("header is not valid JSON ({e})")))?;
    Ok((header, bytes.len() - 8 - header_len))
}

/// Checks one tensor entry of the header against its dtype, shape and the data section (an
/// `f32` tensor's values must be finite: training never saves NaN, so one is damage); returns
/// its number of values.
fn check_tensor_entry(
    name: &str,
    value: serde_json::Value,
    data: &[u8],
) -> Result<usize, ModelFileError> {
    let data_len = data.len();
    let entry: TensorEntry = serde_json::from_value(value)
        .map_err(|e| ModelFileError::Corrupt(format!("tensor '{name}' entry: {e}")))?;
    let [start, end] = entry.data_offsets;
    let width = match entry.dtype.as_str() {
        "F32" | "I32" | "U32" => 4,
        "F64" | "I64" | "U64" => 8,
        "F16" | "BF16" | "I16" | "U16" => 2,
        "U8" | "I8" | "BOOL" => 1,
        other => {
            return Err(ModelFileError::Corrupt(format!(
                "tensor '{name}' has unknown dtype {other}"
            )));
        }
    };
    let elements = entry
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let Some(expected) = elements.and_then(|n| n.checked_mul(width)) else {
        return Err(ModelFileError::Corrupt(format!(
            "tensor '{name}' claims a shape of {:?}, more than any file holds",
            entry.shape
        )));
    };
    if end < start || end - start != expected {
        return Err(ModelFileError::Corrupt(format!(
            "tensor '{name}' of shape {:?} spans bytes {start}..{end}, expected {expected} bytes",
            entry.shape
        )));
    }
    if end > data_len {
        return Err(ModelFileError::Truncated(format!(
            "tensor '{name}' ends at byte {end} but the data section has {data_len} bytes"
        )));
    }
    if entry.dtype == "F32" {
        let bad = data[start..end]
            .chunks_exact(4)
            .filter(|b| !f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite())
            .count();
        if bad > 0 {
            return Err(ModelFileError::Corrupt(format!(
                "tensor '{name}' holds {bad} NaN or infinite values of {}",
                expected / width
            )));
        }
    }
    Ok(expected / width)
}

/// The architecture is buildable, needs about as many values as the file holds, and matches
/// the image shape it claims.
fn check_architecture(meta: &FlowMeta, file_values: usize) -> Result<(), ModelFileError> {
    meta.config
        .validate()
        .map_err(|e| ModelFileError::Mismatch(e.to_string()))?;
    // Refuse before allocating: building the layers must not need far more than the file holds.
    let bound = meta.config.allocation_bound();
    if bound > 8 * file_values as u128 + (1 << 22) {
        return Err(ModelFileError::Mismatch(format!(
            "the layer list would need about {bound} values to build, but the file holds \
             {file_values} weights: a number in its architecture is wrong"
        )));
    }
    if let Some(image) = &meta.image {
        crate::flows::validate::shape(&image.shape)
            .map_err(|e| ModelFileError::Mismatch(format!("image shape: {e}")))?;
        if image.shape.dim() != meta.config.dim() {
            return Err(ModelFileError::Mismatch(format!(
                "image shape {} has {} values but the flow models {}",
                image.shape,
                image.shape.dim(),
                meta.config.dim()
            )));
        }
    }
    if let Some(posterior) = &meta.posterior {
        posterior
            .expected_shape()
            .check(&meta.config)
            .map_err(ModelFileError::Mismatch)?;
    }
    Ok(())
}

/// The dimension and context size a posterior model's network must have.
pub struct PosteriorShape {
    pub dim: usize,
    pub context: usize,
}

impl PosteriorShape {
    fn check(&self, config: &FlowConfig) -> Result<(), String> {
        if config.dim() != self.dim || config.context() != self.context {
            return Err(format!(
                "a posterior for this problem needs a flow of dimension {} reading a context of                  size {}, but the file's has dimension {} and context {}",
                self.dim,
                self.context,
                config.dim(),
                config.context()
            ));
        }
        Ok(())
    }
}

impl PosteriorMeta {
    /// What the network of this problem and method looks like from outside.
    pub fn expected_shape(&self) -> PosteriorShape {
        use crate::inverse::Method;
        let (d, m) = (self.problem.theta_dim(), self.problem.obs_dim());
        match self.method {
            Method::Cflow => PosteriorShape { dim: d, context: m },
            Method::Inn => PosteriorShape {
                dim: d + m,
                context: 0,
            },
        }
    }
}

/// Rebuilds a flow from `.flow` bytes on `device`.
pub fn from_bytes(bytes: Vec<u8>, device: &Device) -> Result<(Flow, FlowMeta), ModelFileError> {
    let meta = read_meta(&bytes)?;
    if crate::device::is_cpu(device) {
        let flow = build(&meta, bytes, device)?;
        probe(&flow)?;
        return Ok((flow, meta));
    }
    // A GPU tensor cannot be read back synchronously: the probe runs on a CPU copy.
    probe(&build(&meta, bytes.clone(), &crate::device::cpu())?)?;
    let flow = build(&meta, bytes, device)?;
    Ok((flow, meta))
}

/// Runs a loaded flow both ways on two rows of 0.3 (inside the unit interval the image flows
/// read and inside every box the 2D ones use), with a zero context for a conditional flow. A
/// layer list that agrees with its weights but not with itself (a damaged image shape, say)
/// builds, then computes NaN: such a file is refused here rather than drawn as noise.
fn probe(flow: &Flow) -> Result<(), ModelFileError> {
    use burn::tensor::Tensor;
    let device = crate::device::cpu();
    let x = Tensor::<2>::zeros([2, flow.dim()], &device).add_scalar(0.3);
    let c = (flow.context() > 0).then(|| Tensor::<2>::zeros([2, flow.context()], &device));
    let log_p = flow.log_prob_given(x.clone(), c.as_ref());
    let (back, _) = flow.inverse_given(x, c.as_ref());
    let nan = |t: &[f32]| t.iter().any(|v| v.is_nan());
    let (a, b) = (
        crate::readback::to_host::<f32, 1>(log_p),
        crate::readback::to_host::<f32, 1>(back.flatten::<1>(0, 1)),
    );
    match (a, b) {
        (Ok(a), Ok(b)) if !nan(&a) && !nan(&b) => Ok(()),
        _ => Err(ModelFileError::Mismatch(
            "the model computes NaN on a plain input (its layer list does not fit together)".into(),
        )),
    }
}

/// The flow of `meta`'s architecture on `device` with the file's weights.
fn build(meta: &FlowMeta, bytes: Vec<u8>, device: &Device) -> Result<Flow, ModelFileError> {
    let mut flow = meta.config.init(device);
    let mut store = SafetensorsStore::from_bytes(Some(bytes))
        .validate(true)
        .allow_partial(false);
    let result = flow
        .load_from(&mut store)
        .map_err(|e| ModelFileError::Mismatch(format!("{e}")))?;
    if !result.errors.is_empty() {
        let msgs: Vec<String> = result.errors.iter().map(|e| format!("{e:?}")).collect();
        return Err(ModelFileError::Mismatch(msgs.join("; ")));
    }
    if !result.missing.is_empty() {
        let names: Vec<&str> = result.missing.iter().map(|(p, _)| p.as_str()).collect();
        return Err(ModelFileError::Mismatch(format!(
            "weights missing from the file: {}",
            names.join(", ")
        )));
    }
    if !result.unused.is_empty() {
        return Err(ModelFileError::Mismatch(format!(
            "weights in the file that the architecture does not have: {}",
            result.unused.join(", ")
        )));
    }
    Ok(flow)
}

/// Reads a `.flow` file.
pub fn load(path: &Path, device: &Device) -> Result<(Flow, FlowMeta), ModelFileError> {
    let bytes = std::fs::read(path).map_err(|source| ModelFileError::Io {
        path: path.display().to_string(),
        source,
    })?;
    from_bytes(bytes, device)
}

/// A copy of `flow` on the CPU, read back asynchronously (a WebGPU tensor cannot be read
/// synchronously, which saving to bytes would need). Parameters are matched by visiting order,
/// which is the same for any two flows built from one config.
pub async fn copy_to_cpu(flow: &Flow) -> Result<Flow, ModelFileError> {
    use burn::module::{ModuleMapper, ModuleVisitor, Param};
    use burn::tensor::{Tensor, TensorData};

    struct Collect(Vec<(Vec<usize>, Tensor<1>)>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let t = param.val();
            let shape = t.dims().to_vec();
            let n: usize = shape.iter().product();
            self.0.push((shape, t.reshape([n])));
        }
    }
    struct Replace(std::vec::IntoIter<(Vec<usize>, Vec<f32>)>);
    impl ModuleMapper for Replace {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (shape, values) = self.0.next().expect("same parameter count");
            param.map(|t| {
                let data = TensorData::new(values, shape);
                Tensor::from_data(data, &t.device())
            })
        }
    }

    let mut collect = Collect(Vec::new());
    flow.visit(&mut collect);
    let mut host = Vec::with_capacity(collect.0.len());
    for (shape, t) in collect.0 {
        let values = crate::readback::to_host_async::<f32, 1>(t)
            .await
            .map_err(|e| ModelFileError::Encode(e.to_string()))?;
        host.push((shape, values));
    }
    let cpu = flow.config().init(&crate::device::cpu());
    Ok(cpu.map(&mut Replace(host.into_iter())))
}

/// [`to_bytes`] for a flow on any device: its weights are first copied to the CPU with
/// asynchronous readbacks (the only kind WebGPU allows).
pub async fn to_bytes_async(flow: &Flow, meta: &FlowMeta) -> Result<Vec<u8>, ModelFileError> {
    to_bytes(&copy_to_cpu(flow).await?, meta)
}

/// Number of scalar parameters.
pub fn num_params(flow: &Flow) -> usize {
    flow.num_params()
}
