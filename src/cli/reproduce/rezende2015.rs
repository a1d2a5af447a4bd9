//! `reproduce rezende2015`: the figure (rows U1–U4; the true density, then planar flows, NICE
//! and radial flows of each length K) as `rezende2015.png`, panel (d) — KL against K per
//! family, one plot per energy — as `rezende2015-kl.png`, and `KL(q ‖ p)` per energy and flow
//! as `table.md` and in the summary (`kl[energy][column]`); each model in `models/`.

use serde_json::{Map, Value, json};

use super::{Run, markdown_table, write_text};
use crate::cli::png::write_png;
use crate::flows::FlowKind;
use crate::model_file::{self, FlowMeta};
use crate::plot::kl_curves::{Curve, draw_kl_curves, kl_curves_size};
use crate::plot::panel_grid::{Panel, draw_panel_grid, panel_grid_size};
use crate::reproduce::rezende2015::{ENERGIES, FAMILIES, cells, columns};
use crate::reproduce::{Fitted, PANEL_RES};
use crate::targets::{Energy, Target};

pub fn run(run: &Run) -> Result<Value, String> {
    let cells = run.select(cells(run.budget, run.seed))?;
    let fitted = run.fit(&cells)?;
    let cols: Vec<_> = columns(run.budget)
        .into_iter()
        .filter(|(_, k)| run.lengths.is_empty() || run.lengths.contains(k))
        .collect();
    let energies: Vec<Energy> = ENERGIES
        .into_iter()
        .filter(|e| cells.iter().any(|c| c.target == Target::Energy(*e)))
        .collect();
    let labels: Vec<String> = cols.iter().map(|(k, n)| format!("{k} K={n}")).collect();
    draw(run, &energies, &fitted, cols.len())?;
    draw_kl_against_length(run, &energies, &fitted, &cols)?;
    save_models(run, &fitted)?;
    let mut kl = Map::new();
    let mut rows = Vec::new();
    for (energy, row) in energies.iter().zip(fitted.chunks(cols.len())) {
        let per_column: Map<String, Value> = labels
            .iter()
            .zip(row)
            .map(|(l, f)| (l.clone(), json!(f.figure.value())))
            .collect();
        kl.insert(energy.name().to_string(), Value::Object(per_column));
        rows.push(
            std::iter::once(energy.name().to_uppercase())
                .chain(row.iter().map(|f| format!("{:.3}", f.figure.value())))
                .collect(),
        );
    }
    let header: Vec<String> = std::iter::once("KL(q‖p), nats".to_string())
        .chain(labels.iter().cloned())
        .collect();
    write_text(&run.dir.join("table.md"), &markdown_table(&header, &rows))?;
    let b = ENERGIES[0].bounds();
    Ok(json!({
        "kl": kl,
        "box": [[b.x.0, b.x.1], [b.y.0, b.y.1]],
        "steps": cells[0].steps,
        "batch": cells[0].batch,
        "nan_events": fitted.iter().map(|f| f.nan_events).sum::<usize>(),
        "figure": run.dir.join("rezende2015.png").display().to_string(),
        "kl_figure": run.dir.join("rezende2015-kl.png").display().to_string(),
    }))
}

/// Each fit as `models/<energy>-<flow>-K<k>.flow` (a few kB each), for `plot`, `log-prob` and
/// the page.
fn save_models(run: &Run, fitted: &[Fitted]) -> Result<(), String> {
    let dir = run.dir.join("models");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    for f in fitted {
        let mut meta = FlowMeta::new(f.model.config().clone());
        meta.spec = Some(f.spec.clone());
        meta.target = Some(f.cell.target.name().to_string());
        meta.history = Some(f.history.clone());
        meta.summary = Some(json!({ "kl": f.figure.value() }));
        let name = format!(
            "{}-{}-K{}.flow",
            f.cell.target.name(),
            f.spec.kind,
            f.spec.layers
        );
        model_file::save(&dir.join(name), &f.model, &meta).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn draw(run: &Run, energies: &[Energy], fitted: &[Fitted], per_row: usize) -> Result<(), String> {
    let truth: Vec<Vec<f32>> = energies
        .iter()
        .map(|e| Target::Energy(*e).log_density_grid(PANEL_RES))
        .collect();
    let mut panels = Vec::new();
    for (r, row) in fitted.chunks(per_row).enumerate() {
        panels.push(Panel {
            title: "exp(−U)".into(),
            log_density: &truth[r],
            res: PANEL_RES,
        });
        panels.extend(row.iter().map(|f| Panel {
            title: format!("{}  KL {:.2}", f.cell.label, f.figure.value()),
            log_density: &f.log_density,
            res: f.res,
        }));
    }
    let row_labels: Vec<String> = energies.iter().map(|e| e.name().to_uppercase()).collect();
    let size = panel_grid_size(energies.len(), per_row + 1, 170);
    write_png(&run.dir.join("rezende2015.png"), size, |root| {
        draw_panel_grid(root, &row_labels, &panels).map_err(String::from)
    })
}

/// Panel (d): per energy, `KL(q ‖ p)` against K for each family, from the same fits.
fn draw_kl_against_length(
    run: &Run,
    energies: &[Energy],
    fitted: &[Fitted],
    cols: &[(FlowKind, usize)],
) -> Result<(), String> {
    let panels: Vec<(String, Vec<Curve>)> = energies
        .iter()
        .zip(fitted.chunks(cols.len()))
        .map(|(energy, row)| {
            let curves = FAMILIES
                .iter()
                .map(|family| Curve {
                    name: family.to_string(),
                    points: cols
                        .iter()
                        .zip(row)
                        .filter(|((kind, _), _)| kind == family)
                        .map(|((_, k), f)| (*k, f.figure.value()))
                        .collect(),
                })
                .filter(|c| !c.points.is_empty())
                .collect();
            (energy.name().to_uppercase(), curves)
        })
        .collect();
    super::super::register_fonts();
    let size = kl_curves_size(panels.len(), 300);
    write_png(&run.dir.join("rezende2015-kl.png"), size, |root| {
        draw_kl_curves(root, &panels).map_err(String::from)
    })
}
