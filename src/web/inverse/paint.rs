//! The inverse view's picture: the arm's rail and one arm per posterior draw reaching for the
//! red target, or the draws as points in the θ-plane beside the exact answer of a 2D problem
//! (the linear-Gaussian posterior's 2σ ellipse; the ring's noiseless circle).

use crate::inverse::Problem;
use crate::inverse::problems::arm_joints;
use crate::inverse::reference::linear_gaussian_posterior;
use crate::web::shell::canvas::canvas_2d;
use crate::web::shell::url::MAX_OBSERVATION;

/// The canvas' side in pixels.
pub const CANVAS: f64 = 480.0;

/// Canvas coordinates of a point of the plane shown: the arm's `(vertical, horizontal)` in
/// `[−1.25, 1.25] × [−0.25, 2.25]`, or θ in `[−3.5, 3.5]²`.
pub fn to_canvas(problem: Problem, p: [f64; 2]) -> (f64, f64) {
    match problem {
        Problem::Arm => ((p[1] + 0.25) / 2.5 * CANVAS, (1.25 - p[0]) / 2.5 * CANVAS),
        _ => ((p[0] + 3.5) / 7.0 * CANVAS, (3.5 - p[1]) / 7.0 * CANVAS),
    }
}

/// The inverse of [`to_canvas`] for the arm: the observation under a pointer.
pub fn arm_point(x: f64, y: f64) -> [f64; 2] {
    let clamp = |v: f64| v.clamp(-MAX_OBSERVATION, MAX_OBSERVATION);
    [
        clamp(1.25 - y / CANVAS * 2.5),
        clamp(x / CANVAS * 2.5 - 0.25),
    ]
}

/// Draws the problem's picture for observation `y` and posterior draws `draws`.
pub fn paint(problem: Problem, y: &[f64], draws: &[f64]) {
    let Some((_, ctx)) = canvas_2d("inverse-canvas") else {
        return;
    };
    ctx.set_fill_style_str("#fff");
    ctx.fill_rect(0.0, 0.0, CANVAS, CANVAS);
    let d = problem.theta_dim();
    let line = |a: (f64, f64), b: (f64, f64)| {
        ctx.begin_path();
        ctx.move_to(a.0, a.1);
        ctx.line_to(b.0, b.1);
        ctx.stroke();
    };
    match problem {
        Problem::Arm => {
            // The rail the base slides on.
            ctx.set_stroke_style_str("#999");
            ctx.set_line_width(2.0);
            line(
                to_canvas(problem, [-1.25, 0.0]),
                to_canvas(problem, [1.25, 0.0]),
            );
            ctx.set_line_width(1.5);
            ctx.set_stroke_style_str("rgba(30, 90, 200, 0.12)");
            for theta in draws.chunks(d) {
                let joints = arm_joints(theta);
                ctx.begin_path();
                let (x0, y0) = to_canvas(problem, joints[0]);
                ctx.move_to(x0, y0);
                for j in &joints[1..] {
                    let (x, yy) = to_canvas(problem, *j);
                    ctx.line_to(x, yy);
                }
                ctx.stroke();
            }
        }
        _ => {
            ctx.set_stroke_style_str("#ddd");
            ctx.set_line_width(1.0);
            line(
                to_canvas(problem, [-3.5, 0.0]),
                to_canvas(problem, [3.5, 0.0]),
            );
            line(
                to_canvas(problem, [0.0, -3.5]),
                to_canvas(problem, [0.0, 3.5]),
            );
            ctx.set_fill_style_str("rgba(30, 90, 200, 0.35)");
            for theta in draws.chunks(d) {
                let (x, yy) = to_canvas(problem, [theta[0], theta[1]]);
                ctx.fill_rect(x - 1.5, yy - 1.5, 3.0, 3.0);
            }
            exact_answer(problem, y, &ctx);
        }
    }
    if problem == Problem::Arm {
        let (x, yy) = to_canvas(problem, [y[0], y[1]]);
        ctx.set_stroke_style_str("#d22");
        ctx.set_line_width(2.5);
        ctx.begin_path();
        let _ = ctx.arc(x, yy, 7.0, 0.0, std::f64::consts::TAU);
        ctx.stroke();
    }
}

/// The exact answer of a 2D problem, in red: the linear-Gaussian posterior's 2σ ellipse, or
/// the ring `‖θ‖ = y` (the posterior without noise).
fn exact_answer(problem: Problem, y: &[f64], ctx: &web_sys::CanvasRenderingContext2d) {
    ctx.set_stroke_style_str("#d22");
    ctx.set_line_width(2.0);
    ctx.begin_path();
    let points: Vec<[f64; 2]> = match problem {
        Problem::LinearGaussian => {
            let post = linear_gaussian_posterior(y);
            // Cholesky of the covariance maps the circle of radius 2 onto the 2σ ellipse.
            let [[l11, _], [l21, l22]] = post.cholesky();
            (0..=96)
                .map(|k| {
                    let t = k as f64 / 96.0 * std::f64::consts::TAU;
                    let (u, v) = (2.0 * t.cos(), 2.0 * t.sin());
                    [post.mean[0] + l11 * u, post.mean[1] + l21 * u + l22 * v]
                })
                .collect()
        }
        _ => {
            let r = y[0].max(0.0);
            (0..=96)
                .map(|k| {
                    let t = k as f64 / 96.0 * std::f64::consts::TAU;
                    [r * t.cos(), r * t.sin()]
                })
                .collect()
        }
    };
    for (i, p) in points.iter().enumerate() {
        let (x, yy) = to_canvas(problem, *p);
        if i == 0 {
            ctx.move_to(x, yy);
        } else {
            ctx.line_to(x, yy);
        }
    }
    ctx.stroke();
}
