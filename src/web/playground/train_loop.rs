//! The page's training loop: takes [`Request`]s in order, trains in slices between them and
//! answers with [`Reply`]s. It runs inside the page's Web Worker (`web::worker`), where it has
//! a thread to itself; where no worker can start, the same loop runs on the UI thread
//! (`web::playground::link`) and its slices leave the browser a turn in between.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::{JsFuture, spawn_local};

use super::protocol::{Event, Reply, Request};
use super::runner::Runner;
use crate::web::shell::url::PageConfig;

/// Training runs in slices of this many milliseconds; requests are handled in between.
pub const TRAIN_SLICE_MS: f64 = 25.0;

/// Where replies go: posted to the page (in the worker) or handed to it (on the UI thread).
pub type Emit = Rc<dyn Fn(Reply)>;

/// The loop's handle: cheap to clone, all clones feed the same queue.
#[derive(Clone)]
pub struct TrainLoop {
    queue: Rc<RefCell<VecDeque<Request>>>,
    /// A task is draining the queue (and training); a new request then only joins the queue.
    driving: Rc<Cell<bool>>,
    /// The loop's state, owned by the draining task while it runs.
    core: Rc<RefCell<Core>>,
    emit: Emit,
}

/// The run and what the loop is doing with it.
#[derive(Default)]
struct Core {
    run: u64,
    runner: Option<Runner>,
    training: bool,
    /// Why the last run could not be built (reported when it is trained).
    start_error: Option<String>,
    /// The next step fails as a lost GPU would (set only by a test hook, feature `test-hooks`).
    lose_device: bool,
}

impl TrainLoop {
    pub fn new(emit: Emit) -> Self {
        Self {
            queue: Rc::default(),
            driving: Rc::default(),
            core: Rc::default(),
            emit,
        }
    }

    /// Queues `request`; starts draining the queue unless a task already does.
    pub fn push(&self, request: Request) {
        self.queue.borrow_mut().push_back(request);
        if !self.driving.replace(true) {
            let me = self.clone();
            spawn_local(me.drive());
        }
    }

    /// Handles queued requests, training a slice whenever the queue is empty and the run is
    /// training; ends when there is nothing left to do.
    async fn drive(self) {
        let mut core = self.core.take();
        loop {
            let next = self.queue.borrow_mut().pop_front();
            if let Some(request) = next {
                core.handle(request, &self.emit).await;
            } else if core.training {
                core.train_slice(&self.emit).await;
                next_turn().await;
            } else {
                break;
            }
        }
        *self.core.borrow_mut() = core;
        self.driving.set(false);
    }
}

impl Core {
    fn tell(&self, emit: &Emit, event: Event) {
        emit(Reply::Event {
            run: self.run,
            event,
        });
    }

    /// Forgets the run; replies from now on are about run `run`.
    fn reset(&mut self, run: u64) {
        *self = Self {
            run,
            ..Self::default()
        };
    }

    async fn handle(&mut self, request: Request, emit: &Emit) {
        match request {
            Request::Start {
                run,
                fragment,
                drawn,
                preview,
            } => self.start(run, &fragment, drawn, preview, emit).await,
            Request::Load {
                run,
                fragment,
                name,
                bytes,
            } => self.load(run, &fragment, &name, bytes, emit).await,
            Request::Train => {
                if self.has_run(emit) {
                    self.training = true;
                }
            }
            Request::Pause => self.training = false,
            Request::Step => {
                if self.has_run(emit) {
                    self.train_slice_of(0.0, emit).await;
                }
            }
            Request::Reset => self.reset(self.run),
            Request::Frame { live, stages } => self.frame(live, stages, emit).await,
            Request::Export => self.export(emit).await,
            #[cfg(feature = "test-hooks")]
            Request::SimulateDeviceLoss => self.lose_device = true,
            #[cfg(feature = "test-hooks")]
            Request::SimulateCrash => {
                if crate::web::shell::host::in_worker() {
                    panic!("simulated crash of the training worker (window.flowplayCrashWorker)");
                }
            }
        }
    }

    /// A new run of the configuration in `fragment` (on the points `drawn`, if any). A
    /// preview's failure is kept for the next request to report, not shown.
    async fn start(
        &mut self,
        run: u64,
        fragment: &str,
        drawn: Option<Vec<f32>>,
        preview: bool,
        emit: &Emit,
    ) {
        self.reset(run);
        match Runner::start(&config_of(fragment), drawn).await {
            Ok((runner, started)) => {
                self.runner = Some(runner);
                self.tell(emit, started);
            }
            Err(e) if preview => self.start_error = Some(e),
            Err(e) => {
                self.start_error = Some(e.clone());
                self.tell(emit, Event::Failed(e));
            }
        }
    }

    /// A paused run of the `.flow` file `bytes`; the page learns the file's configuration.
    async fn load(&mut self, run: u64, fragment: &str, name: &str, bytes: Vec<u8>, emit: &Emit) {
        self.reset(run);
        match Runner::load(&config_of(fragment), bytes, name).await {
            Ok((runner, cfg, started)) => {
                self.runner = Some(runner);
                self.tell(emit, started);
                let fragment = cfg.to_fragment();
                self.tell(emit, Event::Loaded { fragment });
            }
            Err(e) => {
                self.start_error = Some(e.clone());
                self.tell(emit, Event::Failed(e));
            }
        }
    }

    /// Whether there is a run to train; says why not when there is none.
    fn has_run(&self, emit: &Emit) -> bool {
        if self.runner.is_none() {
            self.tell(emit, Event::Failed(self.no_run()));
        }
        self.runner.is_some()
    }

    /// A frame of the current run (none without a run); a failure stops training.
    async fn frame(&mut self, live: bool, stages: bool, emit: &Emit) {
        let frame = match &mut self.runner {
            Some(runner) => match runner.frame(live, stages).await {
                Ok(frame) => Some(Box::new(frame)),
                Err(e) => {
                    self.training = false;
                    self.tell(emit, Event::Failed(e));
                    None
                }
            },
            None => None,
        };
        emit(Reply::Frame {
            run: self.run,
            frame,
        });
    }

    /// The current run's flow as `.flow` bytes.
    async fn export(&self, emit: &Emit) {
        match &self.runner {
            Some(runner) => match runner.export().await {
                Ok((name, bytes)) => emit(Reply::Exported {
                    run: self.run,
                    name,
                    bytes,
                }),
                Err(e) => self.tell(emit, Event::Failed(e)),
            },
            None => self.tell(
                emit,
                Event::Failed("export: train or import a flow first".into()),
            ),
        }
    }

    fn no_run(&self) -> String {
        self.start_error
            .clone()
            .unwrap_or_else(|| "there is no run to train: press Reset".into())
    }

    async fn train_slice(&mut self, emit: &Emit) {
        self.train_slice_of(TRAIN_SLICE_MS, emit).await
    }

    /// About `budget_ms` of training (at least one step); stops training when the run ends
    /// or fails.
    async fn train_slice_of(&mut self, budget_ms: f64, emit: &Emit) {
        let lose_device = std::mem::take(&mut self.lose_device);
        // The hook loses the real WebGPU device where there is one; a CPU run gets a step that
        // fails as a lost device's would.
        #[cfg(feature = "test-hooks")]
        let lose_device = lose_device && !crate::web::shell::backend::lose_webgpu_device();
        let Some(runner) = self.runner.as_mut() else {
            self.training = false;
            return;
        };
        for event in runner.slice(budget_ms, lose_device).await {
            if matches!(event, Event::Finished | Event::Failed(_)) {
                self.training = false;
            }
            self.tell(emit, event);
        }
    }
}

/// The playground configuration a URL fragment describes (bad values were refused by the page
/// before it sent the fragment, so notices are not expected here).
fn config_of(fragment: &str) -> PageConfig {
    PageConfig::from_url_parts("", &format!("#{fragment}")).0
}

/// Resolves after the event loop had a turn (so queued messages and clicks get handled).
/// A message to ourselves through a `MessageChannel`: unlike a chain of `setTimeout(0)`, it is
/// not clamped to 4 ms after a few rounds, which would cost a 25 ms slice 15 % of its time.
pub async fn next_turn() {
    let Ok(channel) = web_sys::MessageChannel::new() else {
        gloo_timers::future::TimeoutFuture::new(0).await;
        return;
    };
    let port = channel.port1();
    let turned = Promise::new(&mut |resolve, _| port.set_onmessage(Some(&resolve)));
    let _ = channel.port2().post_message(&JsValue::UNDEFINED);
    let _ = JsFuture::from(turned).await;
    port.set_onmessage(None);
}
