//! The inverse view's state: the loaded posterior with the prior-predictive estimate its
//! observations are checked against, the phase, the latest draws and what is known of them
//! (re-simulation error, typicality of the observation, the correction's effective sample
//! size), and drawing for an observation with the latest request winning.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::paint::paint;
use crate::flows::Flow;
use crate::inverse::fit::posterior_draws;
use crate::inverse::metrics::resimulation_error;
use crate::inverse::predictive::{PREDICTIVE_SEED, PriorPredictive, Typicality};
use crate::inverse::reweight::{Budget, corrected_draws};
use crate::inverse::{Method, Problem};
use crate::rng::Rng;
use crate::web::shell::context::Shell;
use crate::web::shell::files::fetch_bytes;

/// What the view is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Loading,
    Sampling,
    Ready,
    Error,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Self::Loading => "loading",
            Self::Sampling => "sampling",
            Self::Ready => "ready",
            Self::Error => "error",
        }
    }
}

/// A loaded posterior: the flow, its problem and method, and the training simulations'
/// noise (the likelihood the correction weights by).
#[derive(Clone)]
pub struct Loaded {
    pub flow: Flow,
    pub problem: Problem,
    pub method: Method,
    pub noise: f64,
}

/// The view's state.
#[derive(Clone, Copy)]
pub struct InversePage {
    pub phase: RwSignal<Phase>,
    pub error: RwSignal<Option<String>>,
    pub model: StoredValue<Option<Loaded>, LocalStorage>,
    /// The prior predictive of the loaded posterior's training simulations.
    pub predictive: StoredValue<Option<PriorPredictive>, LocalStorage>,
    pub draws: RwSignal<Vec<f64>>,
    pub resim: RwSignal<Option<f64>>,
    pub took_ms: RwSignal<Option<f64>>,
    /// How typical the drawn-for observation is.
    pub typicality: RwSignal<Option<Typicality>>,
    /// The correction of the shown draws: `Ok(ESS)` when they are corrected, `Err(why)` when
    /// a correction was asked for and is impossible, `None` when none was asked for.
    pub correction: RwSignal<Option<Result<f64, String>>>,
    /// An observation that arrived while a draw was under way (only the latest is kept).
    pending: StoredValue<Option<Vec<f64>>>,
    busy: StoredValue<bool>,
}

/// The observation the configuration asks for, or the problem's default (with a notice when
/// the link's `y` has the wrong size).
pub fn observation(page: Shell) -> Vec<f64> {
    let (config, y) = page
        .config
        .with_untracked(|c| (c.inverse.clone(), c.inverse.y.clone()));
    let problem = config.problem;
    if let Some(y) = y.filter(|y| y.len() != problem.obs_dim()) {
        page.notices.update(|n| {
            n.push(format!(
                "'y' has {} numbers but the {} problem observes {}; using its default",
                y.len(),
                problem.name(),
                problem.obs_dim()
            ))
        });
        page.config.update(|c| c.inverse.y = None);
    }
    config.observation()
}

/// The page's correction budget: `max(4n, 10 000)` proposals, one round of 4× more while the
/// effective sample size is small (the CLI allows two).
fn page_budget(n: usize) -> Budget {
    let b = Budget::new(n);
    Budget {
        max_proposals: 4 * b.proposals,
        ..b
    }
}

impl Default for InversePage {
    fn default() -> Self {
        Self::new()
    }
}

impl InversePage {
    pub fn new() -> Self {
        Self {
            phase: RwSignal::new(Phase::Loading),
            error: RwSignal::new(None),
            model: StoredValue::new_local(None),
            predictive: StoredValue::new_local(None),
            draws: RwSignal::new(Vec::new()),
            resim: RwSignal::new(None),
            took_ms: RwSignal::new(None),
            typicality: RwSignal::new(None),
            correction: RwSignal::new(None),
            pending: StoredValue::new(None),
            busy: StoredValue::new(false),
        }
    }

    fn fail(self, e: String) {
        self.error.set(Some(e));
        self.phase.set(Phase::Error);
        self.busy.set_value(false);
    }

    /// Loads `models/<problem>-posterior.flow` and estimates its prior predictive.
    pub async fn load(self, problem: Problem) {
        self.phase.set(Phase::Loading);
        self.error.set(None);
        self.model.set_value(None);
        self.predictive.set_value(None);
        let url = format!("models/{}-posterior.flow", problem.name());
        let bytes = match fetch_bytes(&url).await {
            Ok(b) => b,
            Err(e) => return self.fail(format!("could not load {url}: {e}")),
        };
        let device = crate::device::cpu();
        match crate::model_file::from_bytes(bytes, &device) {
            Ok((flow, meta)) => match (meta.posterior.clone(), meta.posterior_noise()) {
                (Some(p), Some(noise)) if p.problem == problem => {
                    let estimate = PriorPredictive::simulate(problem, noise, PREDICTIVE_SEED);
                    self.predictive.set_value(Some(estimate));
                    self.model.set_value(Some(Loaded {
                        flow,
                        problem,
                        method: p.method,
                        noise,
                    }));
                    self.phase.set(Phase::Ready);
                }
                _ => self.fail(format!(
                    "{url} is not a posterior for the {} problem",
                    problem.name()
                )),
            },
            Err(e) => self.fail(format!("{url}: {e}")),
        }
    }

    /// Draws `n` posterior samples for `y` — corrected by importance weights when `reweight`
    /// — or queues `y` behind the draw under way.
    pub fn request(self, y: Vec<f64>, n: usize, reweight: bool) {
        if self.busy.get_value() {
            self.pending.set_value(Some(y));
            return;
        }
        let Some(m) = self.model.with_value(|m| m.clone()) else {
            return;
        };
        // While another problem's posterior loads, the observation may be the new problem's.
        if y.len() != m.problem.obs_dim() {
            return;
        }
        self.busy.set_value(true);
        self.phase.set(Phase::Sampling);
        let typical = self
            .predictive
            .with_value(|p| p.as_ref().map(|p| p.check(&y)));
        self.typicality.set(typical);
        spawn_local(async move {
            let start = js_sys::Date::now();
            match self.draw(&m, &y, n, reweight).await {
                Ok(draws) => {
                    self.resim
                        .set(Some(resimulation_error(m.problem, &y, &draws)));
                    paint(m.problem, &y, &draws);
                    self.draws.set(draws);
                    self.took_ms.set(Some(js_sys::Date::now() - start));
                    self.busy.set_value(false);
                    match self.pending.try_update_value(Option::take).flatten() {
                        Some(next) => self.request(next, n, reweight),
                        None => self.phase.set(Phase::Ready),
                    }
                }
                Err(e) => self.fail(e),
            }
        });
    }

    /// The draws for one request; sets [`Self::correction`].
    async fn draw(
        self,
        m: &Loaded,
        y: &[f64],
        n: usize,
        reweight: bool,
    ) -> Result<Vec<f64>, String> {
        let mut rng = Rng::new(7);
        let device = crate::device::cpu();
        if reweight {
            let corrected = corrected_draws(
                m.method,
                &m.flow,
                m.problem,
                m.noise,
                y,
                page_budget(n),
                &mut rng,
                &device,
            )
            .await;
            match corrected {
                Ok(c) => {
                    self.correction.set(Some(Ok(c.ess)));
                    return Ok(c.draws);
                }
                // Impossible here (an INN, a noiseless posterior): say why, draw the flow's own.
                Err(e) => self.correction.set(Some(Err(e.to_string()))),
            }
        } else {
            self.correction.set(None);
        }
        let (draws, _) = posterior_draws(m.method, &m.flow, m.problem, y, n, &mut rng, &device)
            .await
            .map_err(|e| e.to_string())?;
        Ok(draws)
    }
}
