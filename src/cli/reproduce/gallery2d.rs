//! `reproduce gallery2d`: every flow family on every 2D target as one figure
//! (`gallery2d.png`: a row per target, the true density first) and a table of each fit's
//! figure (`table.md`; the summary's `figures[target][flow]`): validation NLL minus the
//! target's entropy, the validation NLL where the entropy is unknown (marked `*`), `KL(q ‖ p)`
//! for energies (marked `†`).

use serde_json::{Map, Value, json};

use super::{Run, markdown_table, write_text};
use crate::cli::png::write_png;
use crate::flows::FlowKind;
use crate::plot::panel_grid::{Panel, draw_panel_grid, panel_grid_size};
use crate::reproduce::gallery2d::cells;
use crate::reproduce::{Figure, Fitted, PANEL_RES};
use crate::targets::Target;

pub fn run(run: &Run) -> Result<Value, String> {
    let cells = run.select(cells(run.budget, run.seed))?;
    let fitted = run.fit(&cells)?;
    let targets: Vec<Target> = Target::all()
        .into_iter()
        .filter(|t| cells.iter().any(|c| c.target == *t))
        .collect();
    let per_row = FlowKind::ALL.len();
    draw(run, &targets, &fitted, per_row, "gallery2d.png")?;
    let mut figures = Map::new();
    let mut rows = Vec::new();
    for (t, row) in targets.iter().zip(fitted.chunks(per_row)) {
        let per_flow: Map<String, Value> = row
            .iter()
            .map(|f| (f.cell.label.clone(), json!(f.figure)))
            .collect();
        figures.insert(t.name().to_string(), Value::Object(per_flow));
        rows.push(
            std::iter::once(t.name().to_string())
                .chain(row.iter().map(|f| cell_text(f.figure)))
                .collect(),
        );
    }
    write_table(run, &FlowKind::ALL, &rows, "")?;
    Ok(json!({
        "figures": figures,
        "steps": cells[0].steps,
        "nan_events": fitted.iter().map(|f| f.nan_events).sum::<usize>(),
        "figure": run.dir.join("gallery2d.png").display().to_string(),
    }))
}

/// `table.md`: a row per target (`rows`: its name, then a cell per family of `flows`) and the
/// note on what the numbers are, with `more` appended to it.
pub(super) fn write_table(
    run: &Run,
    flows: &[FlowKind],
    rows: &[Vec<String>],
    more: &str,
) -> Result<(), String> {
    let header: Vec<String> = std::iter::once("target".to_string())
        .chain(flows.iter().map(|k| k.name().to_string()))
        .collect();
    let note = format!(
        "\nNats: validation NLL − entropy; * validation NLL (entropy unknown); † KL(q‖p) on the energy's box{more}.\n"
    );
    write_text(
        &run.dir.join("table.md"),
        &(markdown_table(&header, rows) + &note),
    )
}

pub(super) fn cell_text(f: Figure) -> String {
    match f {
        Figure::NllMinusEntropy(v) => format!("{v:.3}"),
        Figure::ValNll(v) => format!("{v:.3}*"),
        Figure::Kl(v) => format!("{v:.3}†"),
    }
}

/// `file` in the run's folder: a row per target (its true density first), `per_row` fits each.
pub(super) fn draw(
    run: &Run,
    targets: &[Target],
    fitted: &[Fitted],
    per_row: usize,
    file: &str,
) -> Result<(), String> {
    let truth: Vec<Vec<f32>> = targets
        .iter()
        .map(|t| t.log_density_grid(PANEL_RES))
        .collect();
    let mut panels = Vec::new();
    for (r, row) in fitted.chunks(per_row).enumerate() {
        panels.push(Panel {
            title: "target".into(),
            log_density: &truth[r],
            res: PANEL_RES,
        });
        panels.extend(row.iter().map(|f| Panel {
            title: format!("{} {}", f.cell.label, cell_text(f.figure)),
            log_density: &f.log_density,
            res: f.res,
        }));
    }
    let row_labels: Vec<String> = targets.iter().map(|t| t.name().to_string()).collect();
    let size = panel_grid_size(targets.len(), per_row + 1, 130);
    write_png(&run.dir.join(file), size, |root| {
        draw_panel_grid(root, &row_labels, &panels).map_err(String::from)
    })
}
