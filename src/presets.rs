//! Named image experiments: the SNF paper's (Keller et al. 2021, arXiv:2011.07248, §5 and
//! Appendix) and our own small ones that train in minutes on a CPU.
//!
//! A preset fixes the data set, the architecture ([`Arch`]) and the training settings; the
//! CLI can override any of them (`flowplay train --preset NAME --epochs 3 --width 32 …`).
//! The paper's runs are long (hundreds of epochs on a GPU); the epoch counts here are the
//! paper's order of magnitude, not a promise that a CPU finishes them.

use serde::{Deserialize, Serialize};

use crate::flows::FlowConfig;
use crate::flows::multiscale::{HybridSpec, ImageFlowSpec, Mixer, conv_flow, fc_flow, glow};
use crate::flows::validate::ArchitectureError;
use crate::images::Dataset;
use crate::train::images::{GecoSettings, ImageTrainSettings};

/// Which family of image flow.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// Glow: multiscale, couplings + a channel mixer.
    Glow,
    /// SNF's CNN flow: multiscale, convolutions + leaky ReLU, no couplings.
    Cnn,
    /// SNF's FC flow (self-normalizing unless the mixer is `Exact`).
    Fc,
}

/// A named experiment.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Preset {
    pub name: String,
    pub about: String,
    pub dataset: Dataset,
    pub arch: Arch,
    pub spec: ImageFlowSpec,
    pub train: ImageTrainSettings,
}

impl Preset {
    /// The architecture this preset builds.
    pub fn flow_config(&self) -> Result<FlowConfig, ArchitectureError> {
        match self.arch {
            Arch::Glow => glow(&self.spec),
            Arch::Cnn => conv_flow(&self.spec),
            Arch::Fc => Ok(fc_flow(
                &self.spec,
                !matches!(self.spec.mixer, Mixer::Exact { .. }),
            )),
        }
    }
}

/// The preset that runs the timescaling benchmark instead of a training run.
pub const TIMESCALING: &str = "snf_timescaling";

fn snf_settings(epochs: usize, lr: f64) -> ImageTrainSettings {
    ImageTrainSettings {
        epochs,
        batch: 100,
        lr,
        warmup_steps: 10 * 500,
        clip_norm: Some(10_000.0),
        lambda: 1.0,
        ..ImageTrainSettings::default()
    }
}

fn preset(
    name: &str,
    about: &str,
    dataset: Dataset,
    arch: Arch,
    spec: ImageFlowSpec,
    train: ImageTrainSettings,
) -> Preset {
    Preset {
        name: name.into(),
        about: about.into(),
        dataset,
        arch,
        spec,
        train,
    }
}

fn spec(
    dataset: Dataset,
    levels: usize,
    steps: usize,
    hidden: usize,
    mixer: Mixer,
) -> ImageFlowSpec {
    ImageFlowSpec::new(dataset.shape(), levels, steps, hidden, mixer)
}

/// Every preset (the timescaling one is listed by [`names`] but built by the benchmark).
pub fn all() -> Vec<Preset> {
    use Dataset::*;
    let sn3 = Mixer::SelfNorm { kernel: 3 };
    let ex3 = Mixer::Exact { kernel: 3 };
    let mut v = vec![
        preset(
            "selfnorm_fc_mnist",
            "SNF FC flow: 2 self-normalizing 784×784 layers + leaky ReLU (SNF §5.1)",
            Mnist,
            Arch::Fc,
            spec(Mnist, 0, 2, 0, sn3),
            snf_settings(1000, 1e-4),
        ),
        preset(
            "exact_fc_mnist",
            "the same FC flow trained with the exact O(D³) log-det gradient",
            Mnist,
            Arch::Fc,
            spec(Mnist, 0, 2, 0, ex3),
            snf_settings(1000, 1e-4),
        ),
        preset(
            "selfnorm_cnn_mnist",
            "SNF CNN flow: 2 scales × 4 self-normalizing 3×3 convs (SNF §5.1)",
            Mnist,
            Arch::Cnn,
            spec(Mnist, 2, 4, 0, sn3),
            snf_settings(1000, 1e-4),
        ),
        preset(
            "exact_cnn_mnist",
            "the same CNN flow with exact-gradient 3×3 convs",
            Mnist,
            Arch::Cnn,
            spec(Mnist, 2, 4, 0, ex3),
            snf_settings(1000, 1e-4),
        ),
        preset(
            "emerging_cnn_mnist",
            "the same CNN flow with emerging 3×3 convolutions (Hoogeboom et al. 2019)",
            Mnist,
            Arch::Cnn,
            spec(Mnist, 2, 4, 0, Mixer::Emerging { kernel: 3 }),
            snf_settings(1000, 1e-4),
        ),
        preset(
            "exponential_cnn_mnist",
            "the same CNN flow with convolution exponentials (Hoogeboom et al. 2020)",
            Mnist,
            Arch::Cnn,
            spec(Mnist, 2, 4, 0, Mixer::Exponential { kernel: 3 }),
            snf_settings(1000, 1e-4),
        ),
        preset(
            "conv1x1_glow_mnist",
            "Glow: 2 scales × 16 steps, 1×1 convs, couplings of width 512 (SNF's Glow baseline)",
            Mnist,
            Arch::Glow,
            spec(Mnist, 2, 16, 512, Mixer::Conv1x1),
            snf_settings(1000, 1e-3),
        ),
        preset(
            "selfnorm_glow_mnist",
            "SNF Glow: Glow with self-normalizing 3×3 convs instead of 1×1 convs",
            Mnist,
            Arch::Glow,
            spec(Mnist, 2, 16, 512, sn3),
            snf_settings(1000, 1e-3),
        ),
        preset(
            "geco_selfnorm_glow_mnist",
            "SNF Glow with the reconstruction weight set by GECO (constraint recon ≤ 0.1)",
            Mnist,
            Arch::Glow,
            spec(Mnist, 2, 16, 512, sn3),
            ImageTrainSettings {
                geco: Some(GecoSettings {
                    tolerance: 0.1,
                    rate: 1e-3,
                    momentum: 0.99,
                }),
                ..snf_settings(1000, 1e-3)
            },
        ),
    ];
    for (data, tag) in [(Cifar10, "cifar10"), (Imagenet32, "imagenet32")] {
        v.push(preset(
            &format!("conv1x1_glow_{tag}"),
            "Glow: 3 scales × 32 steps, width 512 (needs --data-dir)",
            data,
            Arch::Glow,
            spec(data, 3, 32, 512, Mixer::Conv1x1),
            snf_settings(500, 1e-3),
        ));
        v.push(preset(
            &format!("selfnorm_glow_{tag}"),
            "SNF Glow: 3 scales × 32 steps with self-normalizing 3×3 convs (needs --data-dir)",
            data,
            Arch::Glow,
            spec(data, 3, 32, 512, sn3),
            snf_settings(500, 1e-3),
        ));
    }
    let small = ImageTrainSettings {
        epochs: 8,
        batch: 64,
        lr: 1e-3,
        warmup_steps: 200,
        clip_norm: Some(50.0),
        eval_every: 1,
        val_images: 1000,
        ..ImageTrainSettings::default()
    };
    v.push(preset(
        "glow_mnist_small",
        "our small Glow for CPUs: 2 scales × 4 steps, LU 1×1 convs, couplings of width 48",
        Mnist,
        Arch::Glow,
        spec(Mnist, 2, 4, 48, Mixer::Conv1x1Lu),
        small.clone(),
    ));
    v.push(preset(
        "glow_fashion_mnist_small",
        "the same small Glow on Fashion-MNIST",
        FashionMnist,
        Arch::Glow,
        spec(FashionMnist, 2, 4, 48, Mixer::Conv1x1Lu),
        small.clone(),
    ));
    // Sized for a short lease of one GPU (scripts/gpu-train.sh): stop it with --max-minutes.
    // Batch 128: a wgpu step's time is mostly kernel launches, so a larger batch is nearly free.
    let gpu = ImageTrainSettings {
        epochs: 100,
        batch: 128,
        warmup_steps: 500,
        ..small.clone()
    };
    v.push(preset(
        "glow_mnist_gpu",
        "Glow for one GPU: 2 scales × 10 steps, LU 1×1 convs, couplings of width 320",
        Mnist,
        Arch::Glow,
        spec(Mnist, 2, 10, 320, Mixer::Conv1x1Lu),
        gpu.clone(),
    ));
    let gpu_classifier = gpu.clone();
    v.push(preset(
        "glow_fashion_mnist_gpu",
        "the same GPU Glow on Fashion-MNIST",
        FashionMnist,
        Arch::Glow,
        spec(FashionMnist, 2, 10, 320, Mixer::Conv1x1Lu),
        gpu,
    ));
    // Generative classifiers: the same Glows with one Gaussian per class at every level.
    let classifier = |s: ImageFlowSpec| ImageFlowSpec { classes: 10, ..s };
    v.push(preset(
        "glow_mnist_classifier_small",
        "the small Glow, class-conditional at every level: a generative classifier (CPU)",
        Mnist,
        Arch::Glow,
        classifier(spec(Mnist, 2, 4, 48, Mixer::Conv1x1Lu)),
        small.clone(),
    ));
    v.push(preset(
        "glow_fashion_mnist_classifier_small",
        "the same small generative classifier on Fashion-MNIST (CPU)",
        FashionMnist,
        Arch::Glow,
        classifier(spec(FashionMnist, 2, 4, 48, Mixer::Conv1x1Lu)),
        small.clone(),
    ));
    v.push(preset(
        "glow_mnist_classifier_gpu",
        "the GPU Glow, class-conditional at every level: a generative classifier",
        Mnist,
        Arch::Glow,
        classifier(spec(Mnist, 2, 10, 320, Mixer::Conv1x1Lu)),
        gpu_classifier.clone(),
    ));
    v.push(preset(
        "glow_fashion_mnist_classifier_gpu",
        "the same GPU classifier on Fashion-MNIST",
        FashionMnist,
        Arch::Glow,
        classifier(spec(FashionMnist, 2, 10, 320, Mixer::Conv1x1Lu)),
        gpu_classifier,
    ));
    // Hybrid classifiers (Nalisnick et al. 2019): the unconditional small Glow with a linear
    // softmax head on its latent, trained on bits/dim + β·(label NLL), Nalisnick's
    // λ = 1/(β D ln 2). β = 1 on MNIST (0.974 test accuracy after 12 epochs); on Fashion-MNIST
    // β = 1 stopped at 0.871, β = 10 (classification weighted up) is the shipped recipe.
    let hybrid = |s: ImageFlowSpec, label_weight: f64| ImageFlowSpec {
        hybrid: Some(HybridSpec {
            classes: 10,
            label_weight,
        }),
        ..s
    };
    v.push(preset(
        "glow_mnist_hybrid_small",
        "the small Glow with a linear classifier on its latent: a hybrid model (CPU)",
        Mnist,
        Arch::Glow,
        hybrid(spec(Mnist, 2, 4, 48, Mixer::Conv1x1Lu), 1.0),
        small.clone(),
    ));
    v.push(preset(
        "glow_fashion_mnist_hybrid_small",
        "the same small hybrid model on Fashion-MNIST, labels weighted 10× (CPU)",
        FashionMnist,
        Arch::Glow,
        hybrid(spec(FashionMnist, 2, 4, 48, Mixer::Conv1x1Lu), 10.0),
        small.clone(),
    ));
    v.push(preset(
        "selfnorm_glow_mnist_small",
        "the small Glow with self-normalizing 3×3 convs",
        Mnist,
        Arch::Glow,
        spec(Mnist, 2, 4, 48, sn3),
        small,
    ));
    v
}

/// Every preset name, the timescaling benchmark included.
pub fn names() -> Vec<String> {
    let mut n: Vec<String> = all().into_iter().map(|p| p.name).collect();
    n.push(TIMESCALING.into());
    n
}

/// A preset name that is not one of ours.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("unknown preset '{name}'; known presets: {}", known.join(", "))]
pub struct UnknownPreset {
    pub name: String,
    pub known: Vec<String>,
}

impl From<UnknownPreset> for String {
    fn from(e: UnknownPreset) -> Self {
        e.to_string()
    }
}

/// The SNF repository's names for its CIFAR-10 and ImageNet 32×32 experiments (its Table 2),
/// accepted for ours: `conv1x1_glow_cifar` is `conv1x1_glow_cifar10`, `selfnorm_glow_imagenet`
/// is `selfnorm_glow_imagenet32`.
const SEED_SUFFIXES: [(&str, &str); 2] = [("_cifar", "_cifar10"), ("_imagenet", "_imagenet32")];

/// Our name for `name` when it is one of the SNF repository's ([`SEED_SUFFIXES`]).
pub fn canonical_name(name: &str) -> String {
    SEED_SUFFIXES
        .iter()
        .find_map(|(seed, ours)| name.strip_suffix(seed).map(|stem| format!("{stem}{ours}")))
        .unwrap_or_else(|| name.to_string())
}

/// The preset called `name` (or its SNF alias), or an error listing the known names.
pub fn find(name: &str) -> Result<Preset, UnknownPreset> {
    let wanted = canonical_name(name);
    all()
        .into_iter()
        .find(|p| p.name == wanted)
        .ok_or_else(|| UnknownPreset {
            name: name.to_string(),
            known: names(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every preset builds a valid architecture of its data set's dimension.
    #[test]
    fn every_preset_builds() {
        for p in all() {
            let c = p
                .flow_config()
                .unwrap_or_else(|e| panic!("{}: {e}", p.name));
            c.validate().unwrap_or_else(|e| panic!("{}: {e}", p.name));
            assert_eq!(c.dim(), p.dataset.shape().dim(), "{}", p.name);
        }
        for (seed, ours) in [
            ("conv1x1_glow_cifar", "conv1x1_glow_cifar10"),
            ("selfnorm_glow_imagenet", "selfnorm_glow_imagenet32"),
        ] {
            assert_eq!(find(seed).unwrap().name, ours);
        }
        assert!(find("glow_mnist_small_cifar").is_err());
        let err = find("glow_mnist_huge").unwrap_err().to_string();
        assert!(
            err.contains("glow_mnist_small") && err.contains(TIMESCALING),
            "{err}"
        );
    }

    /// The loader's allocation bound (`FlowConfig::allocation_bound`) covers the parameters of
    /// every MNIST-sized preset and every 2D flow, so an honest file is never refused by it, and
    /// stays within the loader's margin of 8× + 4 M values.
    #[test]
    fn the_allocation_bound_covers_every_architecture() {
        use crate::flows::{FlowKind, FlowSpec};
        let device = crate::device::cpu();
        let mut configs: Vec<(String, crate::flows::FlowConfig)> = all()
            .into_iter()
            .filter(|p| p.dataset.shape().dim() <= 784)
            .map(|p| (p.name.clone(), p.flow_config().expect("builds")))
            .collect();
        for kind in FlowKind::ALL {
            configs.push((kind.name().into(), FlowSpec::new(kind, 2).config()));
            let support = FlowSpec::new(kind, 2).with_support(vec![-4.0; 2], vec![4.0; 2]);
            configs.push((format!("{kind} with a box"), support.config()));
        }
        for (name, c) in configs {
            let params = crate::model_file::num_params(&c.init(&device)) as u128;
            let bound = c.allocation_bound();
            assert!(
                bound >= params,
                "{name}: bound {bound} < {params} parameters"
            );
            assert!(
                bound <= 8 * params + (1 << 22),
                "{name}: bound {bound} for {params}"
            );
        }
    }
}
