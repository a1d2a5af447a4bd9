//! `reproduce families`: flow families side by side on a few targets
//! ([`crate::reproduce::families`]: RealNVP, NSF and a flow-matching CNF by default), the same
//! cells the page's Papers view fits for `#view=papers&figure=families&target=T`: a figure
//! (`families.png`), a table of each fit's figure and training time (`table.md`) and, in the
//! summary, `figures[target][flow]` and `seconds[target][flow]`.

use serde_json::{Map, Value, json};

use super::Run;
use super::gallery2d::{cell_text, draw, write_table};
use crate::flows::FlowKind;
use crate::reproduce::families::{DEFAULT_FAMILIES, cells};
use crate::targets::{SampleSet, Target};

pub fn run(run: &Run, flows: &[FlowKind]) -> Result<Value, String> {
    let flows = if flows.is_empty() {
        DEFAULT_FAMILIES.to_vec()
    } else {
        flows.to_vec()
    };
    let targets = if run.only.is_empty() {
        vec![Target::Samples(SampleSet::Moons)]
    } else {
        run.only.clone()
    };
    let all: Vec<_> = targets
        .iter()
        .flat_map(|&t| cells(t, &flows, run.steps, run.seed))
        .collect();
    // `--steps` is already applied; `select` keeps them all.
    let fitted = run.fit(&run.select(all)?)?;
    draw(run, &targets, &fitted, flows.len(), "families.png")?;
    let (mut figures, mut seconds, mut rows) = (Map::new(), Map::new(), Vec::new());
    for (t, row) in targets.iter().zip(fitted.chunks(flows.len())) {
        let by_flow = |v: &dyn Fn(&crate::reproduce::Fitted) -> Value| -> Value {
            Value::Object(row.iter().map(|f| (f.cell.label.clone(), v(f))).collect())
        };
        figures.insert(t.name().to_string(), by_flow(&|f| json!(f.figure)));
        seconds.insert(t.name().to_string(), by_flow(&|f| json!(f.seconds)));
        rows.push(
            std::iter::once(t.name().to_string())
                .chain(
                    row.iter()
                        .map(|f| format!("{} ({:.1} s)", cell_text(f.figure), f.seconds)),
                )
                .collect(),
        );
    }
    write_table(
        run,
        &flows,
        &rows,
        "; training time on one CPU thread in brackets",
    )?;
    Ok(json!({
        "figures": figures,
        "seconds": seconds,
        "steps": fitted.first().map(|f| f.cell.steps),
        "figure": run.dir.join("families.png").display().to_string(),
    }))
}
